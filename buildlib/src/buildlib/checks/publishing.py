"""What a push or a release needs: credentials (and with ``--for`` a real login round trip),
the main branch for pushes of ``:main``, the release tag at HEAD for a release.

Without ``--for`` these checks only report what they see; a missing credential or release
tag is no failure for a local build. A secret is never printed: only the username and where
it came from.
"""

from __future__ import annotations

from functools import partial

from buildlib.checks import CheckResult
from buildlib.checks.project import Project, exception_line, per_project
from buildlib.credentials import Credentials, Found, find, refused_fix
from buildlib.errors import AuthError, BuildlibError
from buildlib.references import is_docker_hub, is_loopback
from buildlib.release_please import in_use
from buildlib.releaseplan import missing_tag

NEEDS_FOR = "`invoke doctor --for push` (or `--for release`) checks it"


def _credential_env(project: Project) -> tuple[str, str]:
    credentials = project.settings.credentials
    return credentials.username_env, credentials.token_env


def _credential_hint(project: Project) -> str:
    user, token = _credential_env(project)
    registry = project.registry
    login = "docker login" if is_docker_hub(registry) else f"docker login {registry}"
    return (
        f"export {user}=<user> {token}=<token> (in GitHub Actions: repository secrets "
        f"passed as env), or `{login}`"
    )


@per_project
def find_credentials(project: Project) -> tuple[Credentials | None, str | None, CheckResult | None]:
    """(Credentials or None, where they came from, a failing result if reading failed)."""
    user, token = _credential_env(project)
    failed = partial(CheckResult, "credentials", "fail")
    try:
        found = find(user, token, project.registry, project.environ)
    except BuildlibError as exc:
        return None, None, failed(exc.message, hint=exc.hint or _credential_hint(project))
    except Exception as exc:  # noqa: BLE001 - a docker config the SDK cannot read
        message = f"could not read the docker login for {project.registry}: {exception_line(exc)}"
        hint = "check $DOCKER_CONFIG/config.json (or ~/.docker/config.json)"
        return None, None, failed(message, hint=hint)
    return found.credentials, found.source, None


def check_credentials(project: Project, for_: str | None = None) -> CheckResult:
    result = partial(CheckResult, "credentials")
    creds, source, problem = find_credentials(project)
    if problem is not None:
        return problem
    registry = project.registry
    if creds is not None:
        shown = f"user {creds.username!r} from {source} (secret not shown)"
        return result("ok", f"credentials for {registry}: {shown}")
    user, token = _credential_env(project)
    missing = f"no credentials for {registry}: neither ${user}/${token} nor a docker login"
    hint = _credential_hint(project)
    if for_ is None:
        return result("skipped", f"{missing}: only a push needs them ({NEEDS_FOR})")
    if is_loopback(registry):
        return result("warn", f"{missing}; fine if this local registry needs no login", hint=hint)
    return result("fail", missing, hint=hint)


def check_registry_auth(project: Project, for_: str | None = None) -> CheckResult:
    """With ``--for``: log in to the registry's ``/v2/`` with the credentials (network); a
    local registry without credentials is asked whether it needs a login at all."""
    result = partial(CheckResult, "registry-auth")
    registry = project.registry
    if for_ is None:
        return result("skipped", f"a login to {registry} needs the network: {NEEDS_FOR}")
    creds, source, problem = find_credentials(project)
    if creds is None and (problem or not is_loopback(registry)):
        reason = "the credentials could not be read" if problem else "no credentials to try"
        return result("skipped", f"{reason} (see credentials)")
    from buildlib.registry import RegistryClient

    hint = refused_fix(Found(creds, source), *_credential_env(project), registry)
    client = RegistryClient(registry, creds, timeout=10, retries=1, credential_hint=hint)
    try:
        client.ping()
    except AuthError as exc:
        if creds is None:  # a push's words (publish refuse_anonymous)
            message = f"{registry} requires a login, and there are no credentials"
            return result("fail", message, hint=_credential_hint(project))
        # the client's words name the registry, the user and the refusal: said once
        said = exc.message.replace(f"{registry}: ping: ", f"{registry}: ", 1)
        return result("fail", f"{said}; they came from {source}", hint=exc.hint or hint)
    except BuildlibError as exc:
        host = "(--registry / $BUILDLIB_REGISTRY / [tool.buildlib].registry)"
        hint = exc.hint or f"check the network, or the registry host {host}"
        said = exc.message.removeprefix(f"{registry}: ")
        return result("fail", f"{registry} did not answer: {said}", hint=hint)
    if creds is None:
        return result("ok", f"{registry} answers without a login (GET {client.base_url}/v2/)")
    accepted = f"accepted the credentials of {creds.username!r} (GET {client.base_url}/v2/)"
    return result("ok", f"{registry} {accepted}")


def check_branch(project: Project, for_: str | None = None) -> CheckResult:
    result = partial(CheckResult, "git-branch")
    main, tag = project.settings.main_branch, project.settings.main_tag
    if not project.is_git:
        return result("skipped", "not a git repository")
    if for_ == "release":
        return result("skipped", "a release builds from its tag, on any branch (see release-tag)")
    branch = project.git.branch()
    if branch == main:
        here = f": pushes of :{tag} come from here" if for_ == "push" else ""
        return result("ok", f"on {main}{here}")
    where = f"on branch {branch}" if branch else "HEAD is detached"
    if for_ != "push":
        return result("skipped", f"{where}: a push of :{tag} needs {main} ({NEEDS_FOR})")
    hint = f"git switch {main} && git pull (or push another tag: invoke push --tag NAME)"
    return result("fail", f"{where}, but :{tag} images are pushed from {main} only", hint=hint)


def check_release_tag(project: Project, for_: str | None = None) -> CheckResult:
    result = partial(CheckResult, "release-tag")
    if project.version_text is None or project.version is None:
        return result("skipped", "no valid [project].version (see pyproject-version)")
    if not project.is_git:
        return result("skipped", "not a git repository")
    if project.head is None:
        return result("skipped", "the repository has no commits yet")
    tag = project.release_tag() or ""
    commit = project.git.tag_commit(tag)
    release = for_ == "release"
    if commit is None:
        missing = missing_tag(tag, project.version_text, release_please=in_use(project.root))
        stops = "" if release else ": `invoke release` would stop"
        return result("fail" if release else "warn", missing.message + stops, hint=missing.hint)
    if commit != project.head and release:
        message = f"git tag {tag} points at {commit[:12]}, not at HEAD ({project.head[:12]})"
        return result("fail", message, hint=f"git checkout {tag}")
    if commit != project.head:
        message = f"{tag} exists (at {commit[:12]}; HEAD has moved on: a release builds from {tag})"
        return result("ok", message)
    return result("ok", f"{tag} points at HEAD ({commit[:12]})")
