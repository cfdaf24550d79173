"""Validates kiln's release files with independent implementations (used by the Rust tests).

    validate.py statement FILE        in-toto Statement v1 + SLSA Provenance v1 (JSON Schema)
    validate.py cyclonedx FILE...     CycloneDX 1.5 (the schema cyclonedx-python-lib ships)
    validate.py dsse ENVELOPE PUBKEY  DSSE envelope signature (securesystemslib)
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def statement(path):
    import jsonschema

    doc = json.load(open(path))
    for name, part in (("in-toto-statement-v1", doc), ("slsa-provenance-v1", doc.get("predicate"))):
        schema = json.load(open(os.path.join(HERE, name + ".schema.json")))
        jsonschema.Draft202012Validator.check_schema(schema)
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(part))
        for e in errors:
            print("%s: %s at %s" % (name, e.message, "/".join(map(str, e.absolute_path))))
        if errors:
            sys.exit(1)
    print("statement ok")


def cyclonedx(paths):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    validator = JsonStrictValidator(SchemaVersion.V1_5)
    for path in paths:
        error = validator.validate_str(open(path).read())
        if error is not None:
            print("%s: %s" % (path, error))
            sys.exit(1)
    print("cyclonedx ok")


def dsse(envelope_path, pub_path):
    # The snippet docs/provenance.md shows.
    import hashlib
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey

    raw = load_pem_public_key(open(pub_path, "rb").read()).public_bytes(Encoding.Raw, PublicFormat.Raw)
    key = SSlibKey(hashlib.sha256(raw).hexdigest(), "ed25519", "ed25519", {"public": raw.hex()})
    envelope = Envelope.from_dict(json.loads(open(envelope_path).readline()))
    envelope.verify([key], 1)
    assert envelope.payload_type == "application/vnd.in-toto+json"
    statement = json.loads(envelope.payload)
    print("dsse ok: %d subjects" % len(statement["subject"]))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "statement":
        statement(args[0])
    elif cmd == "cyclonedx":
        cyclonedx(args)
    elif cmd == "dsse":
        dsse(args[0], args[1])
    else:
        sys.exit("unknown command " + cmd)
