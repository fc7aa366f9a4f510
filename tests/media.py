"""Builders of real image files carrying metadata, for the curation tests.

Metadata is written with the tools that write it in the wild: Pillow (PNG
iTXt, JPEG APP1, WebP XMP chunk, TIFF tag 700, EXIF), pyexiv2 (IPTC IIM) and
c2pa-python (a signed C2PA manifest, with a throw-away certificate chain).
"""

from __future__ import annotations

import datetime
import io
import struct
import zlib
from functools import lru_cache

import numpy as np
from PIL import Image, PngImagePlugin

PLUS_PROHIBITED = "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING"
PLUS_ALLOWED = "http://ns.useplus.org/ldf/vocab/DMI-ALLOWED"
CC_BY = "https://creativecommons.org/licenses/by/4.0/"
CC_BY_NC = "https://creativecommons.org/licenses/by-nc/4.0/"
OCAL_PD = "http://web.resource.org/cc/PublicDomain"
OCAL_GPL = "http://creativecommons.org/licenses/GPL/2.0/"


def noise(size=(48, 48), seed: int = 0, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = rng.integers(0, 255, (size[1], size[0], channels), dtype=np.uint8)
    return Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode=mode)


def xmp_packet(
    *,
    data_mining: str | None = None,
    tdm_reservation: str | None = None,
    tdm_prefix: str = "tdm",
    licence: str | None = None,
    rights: str | None = None,
    web_statement: str | None = None,
    creator: str | None = None,
    title: str | None = None,
    gps: bool = False,
    body: str = "",
) -> str:
    """An XMP packet as Adobe tools write it (attributes and element properties)."""
    attrs = []
    if data_mining:
        attrs.append(f'plus:DataMining="{data_mining}"')
    if tdm_reservation is not None:
        attrs.append(f'{tdm_prefix}:reservation="{tdm_reservation}"')
    if web_statement:
        attrs.append(f'xmpRights:WebStatement="{web_statement}"')
    if gps:
        attrs.append('exif:GPSLatitude="48,51.5N" exif:GPSLongitude="2,17.4E"')
    props = []
    if licence:
        props.append(f'<cc:license rdf:resource="{licence}"/>')
    if rights:
        props.append(
            f'<dc:rights><rdf:Alt><rdf:li xml:lang="x-default">{rights}</rdf:li>'
            "</rdf:Alt></dc:rights>"
        )
    if creator:
        props.append(
            f"<dc:creator><rdf:Seq><rdf:li>{creator}</rdf:li></rdf:Seq></dc:creator>"
        )
    if title:
        props.append(
            f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li>'
            "</rdf:Alt></dc:title>"
        )
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about=""'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:cc="http://creativecommons.org/ns#"'
        ' xmlns:xmpRights="http://ns.adobe.com/xap/1.0/rights/"'
        ' xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/"'
        f' xmlns:{tdm_prefix}="http://www.w3.org/ns/tdmrep/"'
        ' xmlns:exif="http://ns.adobe.com/exif/1.0/" '
        + " ".join(attrs)
        + ">"
        + "".join(props)
        + body
        + "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )


def encode(image: Image.Image, fmt: str, xmp: str | None = None, **kw) -> bytes:
    """Image bytes in `fmt`, with the XMP packet where that format keeps it."""
    buffer = io.BytesIO()
    if xmp is not None:
        if fmt == "PNG":
            info = PngImagePlugin.PngInfo()
            info.add_itxt("XML:com.adobe.xmp", xmp, zip=kw.pop("zip", False))
            kw["pnginfo"] = info
        elif fmt == "TIFF":
            kw["tiffinfo"] = {700: xmp.encode()}
        else:  # JPEG APP1, WebP "XMP " chunk
            kw["xmp"] = xmp.encode()
    image.save(buffer, format=fmt, **kw)
    return buffer.getvalue()


def exif_with_gps(artist: str = "", copyright_: str = "") -> Image.Exif:
    exif = Image.Exif()
    if artist:
        exif[0x013B] = artist
    if copyright_:
        exif[0x8298] = copyright_
    exif.get_ifd(0x8825).update(
        {1: "N", 2: (48.0, 51.0, 30.0), 3: "E", 4: (2.0, 17.0, 24.0)}
    )
    return exif


def with_iptc(jpeg: bytes, byline: str, copyright_: str, title: str) -> bytes:
    """IPTC IIM (APP13) written by exiv2, as photo tools write it."""
    import pyexiv2

    with pyexiv2.ImageData(jpeg) as image:
        image.modify_iptc(
            {
                "Iptc.Application2.Byline": [byline],
                "Iptc.Application2.Copyright": copyright_,
                "Iptc.Application2.ObjectName": title,
            }
        )
        return image.get_bytes()


def svg_with_rdf(
    licence: str,
    creator: str = "Jane Drawer",
    title: str = "A drawing",
    *,
    namespace: bool = True,
    doctype: str = "",
    extra: str = "",
) -> bytes:
    """An SVG with Open Clip Art style RDF metadata."""
    xmlns = ' xmlns="http://www.w3.org/2000/svg"' if namespace else ""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        + doctype
        + f'<svg{xmlns} width="40" height="40"><metadata>'
        '<rdf:RDF xmlns:cc="http://web.resource.org/cc/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<cc:Work rdf:about=""><dc:title>{title}</dc:title>'
        '<dc:publisher><cc:Agent rdf:about="http://www.openclipart.org">'
        "<dc:title>Open Clip Art Library</dc:title></cc:Agent></dc:publisher>"
        f"<dc:creator><cc:Agent><dc:title>{creator}</dc:title></cc:Agent></dc:creator>"
        f"<dc:rights><cc:Agent><dc:title>{creator}</dc:title></cc:Agent></dc:rights>"
        f'<cc:license rdf:resource="{licence}"/>{extra}</cc:Work>'
        "</rdf:RDF></metadata>"
        '<rect width="40" height="40" fill="red"/></svg>\n'
    ).encode()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header declaring `width` x `height` pixels, with almost no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def png_with_text_chunk(image: Image.Image, kind: bytes, payload: bytes) -> bytes:
    """PNG bytes with one extra text chunk inserted before the image data."""
    data = encode(image, "PNG")
    at = data.index(b"IDAT") - 4
    return data[:at] + png_chunk(kind, payload) + data[at:]


def itxt_payload(key: str, text: bytes, compressed: bool) -> bytes:
    body = zlib.compress(text, 9) if compressed else text
    return key.encode() + b"\0" + bytes([int(compressed), 0]) + b"\0\0" + body


def face_photo(side: int = 256) -> Image.Image:
    """scikit-image's astronaut (Eileen Collins, NASA, public domain), head and shoulders.

    The face fills about a third of the crop: the cascade at the default
    detect_size finds faces down to about a fifth of the longest side.
    """
    from skimage import data

    image = Image.fromarray(data.astronaut()).crop((100, 0, 356, 256))
    image.thumbnail((side, side))
    return image


@lru_cache(maxsize=1)
def _test_signer_pems() -> tuple[bytes, bytes]:
    """A throw-away CA and ES256 signing certificate (C2PA needs a chain, not self-signed)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "imagegen tests"),
                x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            ]
        )

    def usage(sign: bool, cert_sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=sign,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=cert_sign,
            crl_sign=cert_sign,
            encipher_only=False,
            decipher_only=False,
        )

    def build(subject, issuer, public, signing_key, *, ca: bool):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(
                x509.BasicConstraints(ca=ca, path_length=None), critical=True
            )
            .add_extension(usage(not ca, ca), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(public), critical=False
            )
        )
        if not ca:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                critical=False,
            ).add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    signing_key.public_key()
                ),
                critical=False,
            )
        return builder.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build(name("test ca"), name("test ca"), ca_key.public_key(), ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = build(name("test signer"), ca.subject, key.public_key(), ca_key, ca=False)
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(
        serialization.Encoding.PEM
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return chain, private


def with_c2pa(
    jpeg: bytes, training_use: str, label: str = "cawg.training-mining"
) -> bytes:
    """The JPEG with an embedded, signed C2PA manifest holding a training-mining assertion."""
    import c2pa

    prefix = label.split(".", 1)[0]
    manifest = {
        "claim_generator_info": [{"name": "imagegen-tests", "version": "0"}],
        "format": "image/jpeg",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": "http://cv.iptc.org/newscodes/"
                            "digitalsourcetype/digitalCapture",
                        }
                    ]
                },
            },
            {
                "label": label,
                "data": {
                    "entries": {
                        f"{prefix}.ai_generative_training": {"use": training_use},
                        f"{prefix}.ai_training": {"use": training_use},
                        f"{prefix}.ai_inference": {"use": "allowed"},
                        f"{prefix}.data_mining": {"use": "allowed"},
                    }
                },
            },
        ],
    }
    chain, private = _test_signer_pems()
    info = c2pa.C2paSignerInfo(
        alg=b"es256", sign_cert=chain, private_key=private, ta_url=None
    )
    out = io.BytesIO()
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest) as builder:
        builder.sign(signer, "image/jpeg", io.BytesIO(jpeg), out)
    return out.getvalue()
