"""What ``push`` and ``release`` tell: a dry run's plan, the summary of what was published,
``GITHUB_OUTPUT``'s values and the GitHub step summary.

Never talks to a registry or the docker engine; writes only the two files GitHub names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from buildlib import console, tags
from buildlib.errors import BuildlibError
from buildlib.options import github_files
from buildlib.pushing import Access
from buildlib.releaseplan import ImagePublication, Published


def print_plan(
    access: Access, publications: list[ImagePublication], as_json: bool, version: str | None
) -> None:
    """The plan: every tag of every image, in the order it will be written."""
    from_environment = access.credentials is not None and access.credentials.from_environment
    if as_json:
        document = {
            "version": version,
            "registry": access.registry,
            "login": from_environment,
            "images": [p.as_dict() for p in publications],
        }
        print(json.dumps(document, indent=2))
        return
    login = "login from the environment" if from_environment else "using the existing docker login"
    if access.credentials is None:
        login = "no credentials (anonymous)"
    console.step(f"plan for {access.registry}{f', version {version}' if version else ''}: {login}")
    for publication in publications:
        console.info(
            f"  {publication.name}: {publication.repository} ← {', '.join(publication.tags)}"
        )
        for tag, reason in publication.skipped:
            console.info(f"    not moving {tag}: {reason}")


def described(registry: str, result: Published) -> dict[str, Any]:
    """One image as the JSON report and the ``images`` output give it: every tag also as a
    full reference with the registry (``docker.io/org/app:main``)."""
    return {
        "name": result.name,
        "repository": result.repository,
        "digest": result.digest,
        "tags": result.tags,
        "references": [tags.full_reference(registry, result.repository, t) for t in result.tags],
    }


@contextmanager
def _writing(where: str, task: str) -> Iterator[None]:
    """A write after every tag is written (a full disk passes the pre-flight's github-files): its
    failure says the registry is done, not only the system's words."""
    try:
        yield
    except BrokenPipeError:
        raise  # the reader went away: exit 141, nothing to say (tasks.user_errors)
    except OSError as error:
        raise BuildlibError(
            f"{where} could not be written: {error.strerror or error}; the {task} itself is "
            "done: the registry holds its tags",
            hint=f"fix it and run the {task} again for its outputs; the registry needs nothing",
        ) from None


def report(results: list[Published], registry: str, as_json: bool, version: str | None) -> None:
    images = [described(registry, result) for result in results]
    task = "release" if version else "push"
    if as_json:
        document = {"version": version, "registry": registry, "images": images}
        with _writing("the --json output (stdout)", task):
            print(json.dumps(document, indent=2), flush=True)
    for result, image in zip(results, images, strict=True):
        note = " (already there)" if result.unchanged else ""
        # the registry named, as in GITHUB_OUTPUT: ghcr.io/org/img and org/img are not one image
        shown = ", ".join([image["references"][0], *result.tags[1:]])
        console.success(f"{result.name}: {shown} → {result.digest}{note}")
    output, summary = github_files()
    if output:
        with (
            _writing(f"$GITHUB_OUTPUT ({output})", task),
            open(output, "a", encoding="utf-8") as handle,
        ):
            for image in images:
                handle.write(f"{image['name']}-digest={image['digest']}\n")
                handle.write(f"{image['name']}-tags={','.join(image['tags'])}\n")
                handle.write(f"{image['name']}-references={','.join(image['references'])}\n")
            handle.write(f"images={json.dumps(images)}\n")
    if summary:
        with (
            _writing(f"$GITHUB_STEP_SUMMARY ({summary})", task),
            open(summary, "a", encoding="utf-8") as handle,
        ):
            handle.write(
                f"### Images pushed to {registry}\n\n| image | tags | digest |\n|---|---|---|\n"
            )
            for result in results:
                shown = ", ".join(f"`{t}`" for t in result.tags)
                handle.write(f"| `{result.repository}` | {shown} | `{result.digest}` |\n")
