#!/usr/bin/env python3
"""Validates usine bench JSON files against the schema (JSON Schema 2020-12, with Debian's
python3-jsonschema). usage: validate.py SCHEMA FILE... ; exit 0 valid, 1 invalid, 77 when
jsonschema is missing (skipped, said loudly)."""
import json
import sys

try:
    import jsonschema
except ImportError:
    print("SKIP: python3-jsonschema is not installed (scripts/setup.sh installs it)")
    sys.exit(77)


def main():
    schema = json.load(open(sys.argv[1]))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    bad = 0
    for path in sys.argv[2:]:
        with open(path) as f:
            doc = json.load(f)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        for e in errors[:10]:
            where = "/".join(str(p) for p in e.absolute_path)
            print(f"{path}: {where}: {e.message[:300]}")
        if errors:
            bad += 1
        else:
            print(f"{path}: valid")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
