"""Image packaging: every function Chalice emits runs the one container image, its handler as the
image command. The image is the bootstrap stack's repository, read from the stage's SSM parameter (a
dynamic reference: docs/DEPLOY.md "What the stacks exchange"), at the digest scripts/deploy.sh pushed
(a stack parameter, so each deployment pins its image); the CPU architecture is a parameter too."""

from __future__ import annotations

from chalicelib.vocabulary import SSM_REPOSITORY_URI
from cloudformation.template import Template
from cloudformation.template import add_parameter
from cloudformation.template import clone
from cloudformation.template import functions
from cloudformation.transforms.parameters import ssm_path

IMAGE_PARAMETER = "ImageDigest"
# CloudFormation substitutes the stage and the digest, then resolves the repository's URI from SSM.
IMAGE_URI = {"Fn::Sub": "{{resolve:ssm:" + ssm_path(SSM_REPOSITORY_URI) + "}}@${" + IMAGE_PARAMETER + "}"}
ARCHITECTURE_PARAMETER = "Architecture"
# What a zip-packaged function carries and an image-packaged one must not.
_ZIP_ONLY = ("Runtime", "Handler", "CodeUri", "Layers")


def transform(template: Template) -> Template:
    out = clone(template)
    add_parameter(
        out,
        IMAGE_PARAMETER,
        Type="String",
        AllowedPattern="^sha256:[0-9a-f]{64}$",
        Description="The digest of the image built from container/Dockerfile and pushed to the bootstrap "
        "stack's repository (scripts/deploy.sh sets it)",
    )
    add_parameter(
        out,
        ARCHITECTURE_PARAMETER,
        Type="String",
        Default="arm64",
        AllowedValues=["arm64", "x86_64"],
        Description="CPU architecture the image was built for (docker buildx --platform)",
    )
    for name, function in functions(out):
        props = function["Properties"]
        handler = props.get("Handler")
        if not handler:
            raise ValueError(f"function {name} has no Handler to turn into an image command")
        for key in _ZIP_ONLY:
            props.pop(key, None)
        props["PackageType"] = "Image"
        props["ImageUri"] = dict(IMAGE_URI)
        props["ImageConfig"] = {"Command": [handler]}
        props["Architectures"] = [{"Ref": ARCHITECTURE_PARAMETER}]
    return out
