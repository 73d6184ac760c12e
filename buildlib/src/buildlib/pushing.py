"""Writing a publication to the registry: the login, each ``docker push`` with retries, and
the check that the registry then holds this run's very image under each tag.

Never decides what to push or whether a version may be overwritten (releaseplan does), and
never moves a floating tag (floating does): a push here is always followed by a read-back.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from buildlib import console
from buildlib.config import Config
from buildlib.credentials import Credentials, Found, refused_fix
from buildlib.credentials import find as find_credentials
from buildlib.digests import TAKE_TURNS, confirming, listed_digest, replaced, verify_pushed
from buildlib.docker import Docker
from buildlib.errors import (
    AuthError,
    BuildlibError,
    CheckFailed,
    CommandFailed,
    PublishError,
    Replaced,
)
from buildlib.plan import BuildPlan, ImageBuild
from buildlib.references import is_loopback
from buildlib.registry import RegistryClient
from buildlib.releaseplan import Published, release_stopped
from buildlib.runner import Runner
from buildlib.signals import signals_deferred

# EOF as Go spells io.EOF and io.ErrUnexpectedEOF (src/io/io.go). Matched against the output
# without the pushed name: acme/timeout-probe or acme/edge-503 is no network failure.
TRANSIENT = re.compile(
    r"connection refused|connection reset|broken pipe|i/o timeout|timeout|timed out|"
    r"\b50[0-4]\b|too many requests|\b429\b|(?-i:\bEOF\b)|TLS handshake",
    re.IGNORECASE,
)
# "no basic auth credentials": docker's words when it holds no login for the registry
AUTH_FAILURE = re.compile(
    r"unauthorized|authentication required|denied|no basic auth credentials|\b401\b|\b403\b",
    re.IGNORECASE,
)
PUSH_ATTEMPTS = 3


@dataclass(frozen=True)
class Access:
    """How to reach the registry: credentials from the environment (a temporary login), an
    existing docker login, or none."""

    registry: str
    credentials: Credentials | None
    hint: str

    def client(self, *, quick: bool = False) -> RegistryClient:
        """``quick``: one short try, for a dry run that must stay fast offline."""
        if quick:
            return RegistryClient(
                self.registry, self.credentials, retries=0, timeout=5, credential_hint=self.hint
            )
        return RegistryClient(self.registry, self.credentials, credential_hint=self.hint)


def resolve_access(
    config: Config, registry: str, environ: Mapping[str, str], *, dry_run: bool = False
) -> Access:
    """``dry_run``: credentials that cannot be used (half of the pair set, a docker login
    that cannot be read) count as none, so the dry run still shows its plan; its pre-flight
    warns of them as the credentials check the real run stops at."""
    names = config.credentials
    try:
        found = find_credentials(names.username_env, names.token_env, registry, environ)
    except CheckFailed:
        if not dry_run:
            raise
        found = Found(None, None)
    hint = refused_fix(found, names.username_env, names.token_env, registry)
    return Access(registry, found.credentials, hint)


def refuse_anonymous(access: Access) -> None:
    """Stop before any build when there are no credentials and the registry answers an
    anonymous ``GET /v2/`` (doctor's registry-auth) with 401: a push would fail after every
    build, a release at its tag listing. Only a loopback registry gets here without
    credentials (the credentials check fails the others); one that does not answer is left
    to the push or release to report."""
    if access.credentials is not None or not is_loopback(access.registry):
        return
    try:
        access.client(quick=True).ping()
    except AuthError:
        raise CheckFailed(
            f"{access.registry} requires a login, and there are no credentials",
            hint=access.hint,
        ) from None
    except BuildlibError:
        return


@contextmanager
def docker_login(runner: Runner, plan: BuildPlan, access: Access) -> Iterator[Docker]:
    """The docker client of ``plan``, logged in while the caller builds and pushes: in a
    temporary DOCKER_CONFIG when credentials come from the environment; else as the user's
    own docker config has it."""
    cli, credentials = Docker(runner, plan.capabilities), access.credentials
    if credentials is not None:
        runner.add_secret(credentials.secret, f"the token for {access.registry}")
    if credentials is None or not credentials.from_environment:
        yield cli
        return
    with cli.login(access.registry, credentials, access.hint):
        yield cli


def push_verified(
    cli: Docker,
    client: RegistryClient,
    build: ImageBuild,
    tag: str,
    image_id: str | None,
    reported: str | None = None,
) -> str:
    """Push the image this run built as ``build.published`` (unless the build pushed it:
    then the registry must hold the digest the build ``reported``), then check that the
    registry holds that very image under ``tag``."""
    if build.output == "push":
        return verify_pushed(client, build.image.repository, build.published, tag, reported)
    repository, reference = build.image.repository, build.published
    image_id = image_id or cli.image_id(build.primary)
    with _push_lock(reference):
        # tag by image id: the shared name holds this run's image from here to the push
        cli.tag(image_id or build.primary, reference)
        pushed = _push(cli, reference, client)
        with confirming(reference):
            remote = listed_digest(client, repository, tag)
            content = client.config_digest(repository, remote, platform=build.platforms[0])
    if (pushed is not None and remote != pushed) or (
        image_id is not None and image_id not in (remote, content)
    ):
        image = image_id[7:19] if image_id else "?"
        ours = f"this run pushed {(pushed or '?')[:19]} (image {image})"
        raise replaced(reference, remote, ours)
    console.success(f"pushed {reference} ({remote})")
    return remote


def add_tag_verified(client: RegistryClient, repository: str, digest: str, tag: str) -> None:
    """Another tag of a push (``sha-…``, a second ``--tag``): the pushed manifest tagged in
    the registry, then read back."""
    reference = f"{repository}:{tag}"
    with confirming(reference):
        client.add_tag(repository, digest, tag)
        now = listed_digest(client, repository, tag)
    if now != digest:
        raise replaced(reference, now, f"this run tagged {digest[:19]}")
    console.success(f"tagged {reference} ({digest})")


def still_ours(client: RegistryClient, results: list[Published]) -> None:
    """After every push: each tag of each result still holds what this run pushed there.
    Another writer (a second run, another machine) may have replaced one since."""
    taken, gone, references = [], [], []
    for result in results:
        for index, tag in enumerate(result.tags):
            reference = result.reference if index == 0 else f"{result.repository}:{tag}"
            with confirming(reference):
                now = client.manifest_digest(result.repository, tag)
            if now == result.digest:
                continue
            references.append(f"{result.repository}:{tag}")  # the form a stopped run names
            if now is None:
                gone.append(f"{reference} (this run pushed {result.digest[:19]})")
            else:
                taken.append(f"{reference} (now {now[:19]}, this run pushed {result.digest[:19]})")
    said = [f"another writer replaced {', '.join(taken)} during this run"] if taken else []
    if gone:
        said.append(f"the registry no longer holds {', '.join(gone)}: deleted during this run")
    if said:
        raise Replaced("; ".join(said), tuple(references), hint=TAKE_TURNS)


def push_full_tags(
    cli: Docker,
    client: RegistryClient,
    builds: tuple[ImageBuild, ...],
    full_tag: str,
    unchanged: set[str],
    built: Mapping[str, str | None],
    reported: Mapping[str, str | None],
) -> list[Published]:
    """``full_tag`` for every build: pushed for a loaded image, checked in the registry
    for one buildx pushed (``reported``: the digests it reported; ``built``: the image ids).
    A failure names everything pushed so far."""
    results: list[Published] = []
    for build in builds:
        repository = build.image.repository
        same = build.name in unchanged
        try:
            if same:
                console.info(
                    f"{build.published} is already in the registry with the same "
                    "content: not pushed again"
                )
                digest = listed_digest(client, repository, full_tag)
            else:
                digest = push_verified(
                    cli, client, build, full_tag, built.get(build.name), reported.get(build.name)
                )
        except BuildlibError as error:
            raise release_stopped(error, results, at=build.published) from None
        results.append(Published(build.name, repository, build.published, digest, [full_tag], same))
    return results


def forget_local_names(cli: Docker, plan: BuildPlan) -> None:
    """Remove this run's local names (the pushed names stay; an image another name holds
    stays). SIGINT, SIGTERM and SIGHUP wait, or the other names stay behind: this runs as a Ctrl-C
    unwinds, and ``uv run`` outside a terminal forwards its process group's SIGINT once more
    (its log says so, astral-sh/uv#13756)."""
    with signals_deferred():
        for build in plan.builds:
            if build.publish_as is not None:
                cli.untag(build.primary)


@contextmanager
def _push_lock(reference: str) -> Iterator[None]:
    """Runs on this machine that push one reference take turns from ``docker tag`` to the
    registry's answer, so neither pushes the other's image under that name."""
    try:
        import fcntl
    except ImportError:  # Windows: the registry check still catches a swap
        yield
        return
    digest = hashlib.sha256(reference.encode()).hexdigest()[:16]
    try:  # a link planted in place of the lock is refused, not followed
        path = _lock_directory() / f"buildlib-push-{digest}.lock"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as error:  # a stopped push or release still names what it wrote
        raise PublishError(
            f"the lock that makes pushes of {reference} take turns cannot be opened: "
            f"{error.strerror or error} ({error.filename})",
            hint=f"remove {error.filename}"
            if error.errno == errno.ELOOP
            else "set TMPDIR to a directory of your own that has room",
        ) from None
    with open(descriptor, "a", encoding="utf-8") as handle:
        # closing the file releases the lock (flock(2)); no child inherits it (PEP 446)
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _lock_directory() -> Path:
    """``buildlib-UID`` in the temporary directory, made 0700: shared by this user's clones,
    closed to other users' locks and links (a shared ``/tmp`` is writable by all)."""
    directory = Path(tempfile.gettempdir()) / f"buildlib-{os.getuid()}"
    with suppress(FileExistsError):
        directory.mkdir(mode=0o700)
    found = directory.lstat()
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o077:
        raise PublishError(
            f"{directory} is not a directory only this user can write, so it cannot hold "
            "the lock that makes pushes of one tag take turns",
            hint=f"remove {directory}, or set TMPDIR to a directory of your own",
        )
    return directory


def _push(cli: Docker, reference: str, client: RegistryClient) -> str | None:
    """``docker push`` with retries: the manifest digest it reports (its last ``digest:``)."""
    for attempt in range(1, PUSH_ATTEMPTS + 1):
        result = cli.push(reference)
        output = result.stderr or result.stdout
        if result.ok:
            found = re.findall(r"digest: (sha256:[0-9a-f]{64})", output)
            return found[-1] if found else None
        detail = cli.runner.redact(output.strip().splitlines()[-1] if output.strip() else "")
        if AUTH_FAILURE.search(output):
            raise AuthError(
                f"{client.host} refused the push of {reference}: {detail}",
                hint=client.credential_hint or f"`docker login {client.host}`",
            )
        unnamed = output.replace(reference, "").replace(reference.rpartition(":")[0], "")
        if not TRANSIENT.search(unnamed) or attempt == PUSH_ATTEMPTS:
            raise CommandFailed(f"push of {reference} failed after {attempt} attempt(s): {detail}")
        wait = 2 ** (attempt - 1)
        console.warn(f"push of {reference} failed ({detail}); retrying in {wait}s")
        time.sleep(wait)
    raise AssertionError("unreachable")  # the last attempt returns or raises
