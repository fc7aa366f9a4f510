"""The registered name: the dataset kept apart, or the name set explicitly."""

import pytest

from imagegen.registry import dataset_name, registered_name

PARAMS = {"model_name_prefix": "imagegen-", "model_name": None}


@pytest.mark.parametrize(
    ("raw_dir", "expected"),
    [
        ("data/01_raw/digits", "digits"),
        ("data/01_raw/openclipart/", "openclipart"),
        ("/home/me/My Works", "my_works"),
        ("s3://bucket/studio-art/", "studio-art"),
        ("C:\\art\\Inks", "inks"),
        ("/", "data"),
    ],
)
def test_dataset_name_is_the_folder_name(raw_dir, expected):
    assert dataset_name(raw_dir) == expected


def test_each_dataset_has_its_own_model():
    digits = registered_name(PARAMS, "dcgan", "data/01_raw/digits")
    other = registered_name(PARAMS, "dcgan", "/tmp/forty")
    assert digits == "imagegen-digits-dcgan"
    assert other == "imagegen-forty-dcgan"


def test_model_name_sets_the_whole_name():
    params = {**PARAMS, "model_name": "studio-v2"}
    assert registered_name(params, "vae", "data/01_raw/digits") == "studio-v2"
