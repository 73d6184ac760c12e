"""The images of ``[tool.buildlib]`` as a CI matrix: the one image list of the workflow.

``invoke images --json`` prints it on one line for a workflow job's outputs, which the image
jobs read with ``fromJSON``: a new image gets its jobs without a workflow edit. It reads only
the configuration: it must never run docker or git.
"""

from __future__ import annotations

import json
from pathlib import Path

from buildlib import config as config_module

RUNNER_PLATFORM = "linux/amd64"  # GitHub's hosted ubuntu-latest runners


def image_matrix(root: Path | str) -> dict[str, list[dict[str, str]]]:
    """``{"include": [{"image": "gpu", "repository": ..., "dockerfile": ...,
    "platforms": ..., "emulate": ...}, ...]}``, in the order of the tables. ``platforms``
    is the image's ``platforms``, comma-separated (empty: the runner's own); ``emulate``
    those a hosted runner (linux/amd64) builds under QEMU: a job sets QEMU up only then."""
    config = config_module.load(root)
    return {
        "include": [
            {
                "image": image.name,
                "repository": image.repository,
                "dockerfile": image.dockerfile,
                "platforms": ",".join(image.platforms),
                "emulate": ",".join(p for p in image.platforms if p != RUNNER_PLATFORM),
            }
            for image in config.images
        ]
    }


def print_images(root: Path | str, *, as_json: bool = False) -> None:
    matrix = image_matrix(root)
    if as_json:
        # one line: a workflow step writes it to $GITHUB_OUTPUT as matrix=...
        print(json.dumps(matrix, separators=(",", ":")))
        return
    for entry in matrix["include"]:
        print(f"{entry['image']}: {entry['repository']} ({entry['dockerfile']})")
