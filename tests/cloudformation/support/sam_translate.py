"""Translate a SAM template to plain CloudFormation with aws-sam-translator, offline.

Run with the stack tools' interpreter (.venv-stack/bin/python): ``sam_translate.py TEMPLATE [Key=Value ...]``
prints the CloudFormation as JSON, translated with those parameter values (the others: their defaults),
as CloudFormation's own transform gets them; ``sam_translate.py --many FILE`` translates each template of a
JSON object (name -> template, parameters at their defaults) in one process and prints name -> translation,
or name -> {"error": why} for one the translator refuses. The managed-policy loader is a stub: the templates
use no managed policies.
"""

import json
import sys

import yaml
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    def load(self) -> dict:
        return {}


def main(path: str, *parameters: str) -> None:
    with open(path, encoding="utf-8") as source:
        template = yaml.safe_load(source)
    values = dict(parameter.split("=", 1) for parameter in parameters)
    translated = transform(template, values, NoManagedPolicies())
    json.dump(translated, sys.stdout, indent=1, sort_keys=True, default=str)


def many(path: str) -> None:
    with open(path, encoding="utf-8") as source:
        templates = json.load(source)
    translated = {}
    for name, template in templates.items():
        try:
            translated[name] = transform(template, {}, NoManagedPolicies())
        except Exception as error:  # the test names the template and the translator's reason
            translated[name] = {"error": f"{type(error).__name__}: {error}"}
    json.dump(translated, sys.stdout, sort_keys=True, default=str)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--many"]:
        many(sys.argv[2])
    else:
        main(*sys.argv[1:])
