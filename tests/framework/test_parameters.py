import pytest

from imagegen.framework.parameters import validate_parameters
from imagegen.framework.schema import ConfigurationError


def test_base_parameters_are_valid(base_params, base_policy):
    validated = validate_parameters({**base_params, "policy": base_policy})
    assert validated["training"].model == "dcgan"


@pytest.mark.parametrize(
    ("group", "key", "value", "message"),
    [
        (
            "training",
            "model",
            "stylegan",
            r"training\.model = 'stylegan': must be one of",
        ),
        ("training", "epochs", -1, r"training\.epochs = -1"),
        ("training", "batch_size", 0, r"training\.batch_size = 0"),
        (
            "training",
            "distribution",
            "tpu",
            r"training\.distribution = 'tpu': must be one of 'default', 'mirrored'",
        ),
        ("training", "jit_compile", "sometimes", r"training\.jit_compile"),
        ("preprocessing", "channels", 2, r"preprocessing\.channels = 2"),
        ("evaluation", "n_samples", "many", r"evaluation\.n_samples = 'many'"),
        ("policy", "max_pixels", 0, r"policy\.max_pixels"),
    ],
)
def test_bad_value_names_the_key(base_params, base_policy, group, key, value, message):
    params = {**base_params, "policy": dict(base_policy)}
    params[group] = {**params[group], key: value}
    with pytest.raises(ConfigurationError, match=message):
        validate_parameters(params)


def test_unknown_and_missing_keys_are_named(base_params):
    params = {**base_params, "training": {**base_params["training"], "epoch": 3}}
    del params["training"]["seed"]
    with pytest.raises(ConfigurationError) as info:
        validate_parameters(params)
    assert "training.epoch: unknown key" in str(info.value)
    assert "training.seed: missing" in str(info.value)


def test_evaluation_and_gate_keys_are_checked(base_params, tmp_path):
    params = {
        **base_params,
        "evaluation": {
            **base_params["evaluation"],
            "inception_weights": str(tmp_path / "absent.h5"),
            "memorisation_space": "latent",
        },
        "registration": {
            **base_params["registration"],
            "gates": {**base_params["registration"]["gates"], "fid_min": 3},
        },
    }
    with pytest.raises(ConfigurationError) as info:
        validate_parameters(params)
    message = str(info.value)
    assert "evaluation.inception_weights = " in message
    assert "no such file" in message
    assert "evaluation.memorisation_space = 'latent': must be one of" in message
    assert "registration.gates.fid_min: unknown key" in message


def test_an_existing_weights_file_and_null_gates_are_accepted(base_params, tmp_path):
    weights = tmp_path / "inception.weights.h5"
    weights.write_bytes(b"x")
    params = {
        **base_params,
        "evaluation": {**base_params["evaluation"], "inception_weights": str(weights)},
        "registration": {
            **base_params["registration"],
            "gates": {**base_params["registration"]["gates"], "kid_max": None},
        },
    }
    validated = validate_parameters(params)
    assert validated["registration"].gates.kid_max is None


@pytest.mark.parametrize(
    ("family", "key", "value", "message"),
    [
        ("wgan_gp", "n_critic", 0, r"training\.wgan_gp\.n_critic = 0"),
        ("vae", "beta", -1, r"training\.vae\.beta = -1"),
        ("cgan", "embedding_dim", 0, r"training\.cgan\.embedding_dim = 0"),
        ("dcgan", "beta_1", 1.5, r"training\.dcgan\.beta_1 = 1\.5"),
    ],
)
def test_model_specific_keys_are_named(base_params, family, key, value, message):
    training = {**base_params["training"]}
    training[family] = {**training[family], key: value}
    with pytest.raises(ConfigurationError, match=message):
        validate_parameters({**base_params, "training": training})


def test_every_model_block_is_required_and_closed(base_params):
    training = {**base_params["training"]}
    del training["vae"]
    training["dcgan"] = {**training["dcgan"], "filters": 3}
    with pytest.raises(ConfigurationError) as info:
        validate_parameters({**base_params, "training": training})
    assert "training.vae: missing" in str(info.value)
    assert "training.dcgan.filters: unknown key" in str(info.value)


def test_smoke_environment_is_valid(base_params):
    import yaml

    from tests.conftest import PROJECT_ROOT

    smoke = yaml.safe_load(
        (PROJECT_ROOT / "conf/smoke/parameters_training.yml").read_text()
    )["training"]
    training = {**base_params["training"]}
    for key, value in smoke.items():
        training[key] = {**training[key], **value} if isinstance(value, dict) else value
    validated = validate_parameters({"training": training})["training"]
    assert validated.epochs == 1 and validated.wgan_gp.n_critic == 2
