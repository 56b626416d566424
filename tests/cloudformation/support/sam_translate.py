"""Translate a SAM template to plain CloudFormation with aws-sam-translator, offline.

Run with the stack tools' interpreter (.venv-stack/bin/python): ``sam_translate.py TEMPLATE`` prints
the CloudFormation as JSON. The managed-policy loader is a stub: the templates use no managed policies.
"""

import json
import sys

import yaml
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    def load(self) -> dict:
        return {}


def main(path: str) -> None:
    with open(path, encoding="utf-8") as source:
        template = yaml.safe_load(source)
    translated = transform(template, {}, NoManagedPolicies())
    json.dump(translated, sys.stdout, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    main(sys.argv[1])
