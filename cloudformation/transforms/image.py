"""Image packaging: every function Chalice emits runs the one container image, its handler as the
image command; the image URI and the CPU architecture are stack parameters."""

from __future__ import annotations

from cloudformation.template import Template
from cloudformation.template import add_parameter
from cloudformation.template import clone
from cloudformation.template import functions

IMAGE_PARAMETER = "ImageUri"
ARCHITECTURE_PARAMETER = "Architecture"
# What a zip-packaged function carries and an image-packaged one must not.
_ZIP_ONLY = ("Runtime", "Handler", "CodeUri", "Layers")


def transform(template: Template) -> Template:
    out = clone(template)
    add_parameter(
        out,
        IMAGE_PARAMETER,
        Type="String",
        Description="The Lambda image (ECR URI with tag or digest) built from container/Dockerfile",
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
        props["ImageUri"] = {"Ref": IMAGE_PARAMETER}
        props["ImageConfig"] = {"Command": [handler]}
        props["Architectures"] = [{"Ref": ARCHITECTURE_PARAMETER}]
    return out
