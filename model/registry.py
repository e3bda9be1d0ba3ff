"""Published model versions: ROOT/versions/<version>/ bundles and a `current` symlink naming the one to serve.

Layout::

    ROOT/versions/20250101-120000-1a2b3c4d/   one complete bundle per version, never changed once published
    ROOT/current -> versions/20250101-120000-1a2b3c4d

A version appears under its final name only once complete (copied to a hidden staging name, then renamed),
and `current` is switched with one `os.replace` of a fresh symlink, so a reader (or a killed publisher) only
ever sees the old or the new version. Version names are checked against a strict pattern before they touch a
path, so a requested version can never name a directory outside ROOT/versions.

    python -m model.registry ROOT                  # the published versions, current marked
    python -m model.registry ROOT --use VERSION    # point current at VERSION (a rollback that lasts)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from model.layout import CONFIG_FILE, MANIFEST_FILE, BundleError, fsync_path, verified_manifest
from model.native_log import native_output_logged

VERSIONS, CURRENT = "versions", "current"
VERSION_PATTERN = r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$"
_VERSION = re.compile(VERSION_PATTERN)


class RegistryError(ValueError):
    """A version name or registry layout that cannot be used; the message says why."""


def check_root(root: Path) -> None:
    """A ROOT of versions must not itself be a bundle, nor a ROOT's `versions/` folder: the service would keep
    serving that bundle, or the ROOT's own `current`."""
    if (root / MANIFEST_FILE).is_file():
        raise RegistryError(f"{root} is a bundle, not a ROOT of versions; publish to another directory")
    if is_versions_folder(root):
        raise RegistryError(f"{root} is the {VERSIONS}/ folder of a ROOT; publish to the ROOT itself, {root.parent}")


def is_versions_folder(path: Path) -> bool:
    """`path` is a ROOT's `versions/` folder (a mistake for the ROOT itself)."""
    return path.name == VERSIONS and is_registry(path.parent)


def check_version(version: str) -> str:
    """The version itself if it has the form write_bundle gives (date-time-sha), else RegistryError."""
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise RegistryError(f"invalid version {version!r}: expected YYYYMMDD-HHMMSS-<8 hex digits>")
    return version


def is_registry(path: Path) -> bool:
    """ROOT of published versions (rather than a single bundle)."""
    return (path / VERSIONS).is_dir() and not (path / MANIFEST_FILE).exists()


def version_dir(root: Path, version: str) -> Path:
    """Directory of a published version; RegistryError if the name is invalid or the version absent."""
    path = root / VERSIONS / check_version(version)
    if not path.is_dir():
        raise RegistryError(f"version {version} is not published in {root / VERSIONS}")
    return path


def current_version(root: Path) -> str:
    """The version `ROOT/current` points at (checked, so a tampered link cannot lead outside ROOT)."""
    link = root / CURRENT
    try:
        target = Path(os.readlink(link))
    except FileNotFoundError:
        try:
            published = list_versions(root)
        except OSError:  # versions/ unreadable or gone: the link's absence is the problem to report
            published = []
        problem = (
            f"missing, though {len(published)} version{'s are' if len(published) > 1 else ' is'} published: point it "
            f"at one with `python -m model.registry {root} --use VERSION`"
            if published
            else "missing: no version has been published here"
        )
        raise BundleError(link, problem) from None
    except OSError as error:
        raise BundleError(link, f"not a symlink to a version ({error.strerror})") from None
    if target.parent != Path(VERSIONS):
        raise BundleError(link, f"points at {str(target)!r}; it must be the relative link {VERSIONS}/<version>")
    try:
        return check_version(target.name)
    except RegistryError as error:
        raise BundleError(link, str(error)) from None


def check_published_as(bundle_dir: Path, version: str) -> None:
    """A directory of ROOT/versions must hold the version it is named after: a copied or renamed one would serve
    one version under another's name (and the answers' `model.version` would not be the version requested)."""
    published = bundle_dir.parent.name == VERSIONS and is_registry(bundle_dir.parent.parent)
    if published and _VERSION.fullmatch(bundle_dir.name) and bundle_dir.name != version:
        problem = f"names version {version}, not {bundle_dir.name} (a copied or renamed directory)"
        raise BundleError(bundle_dir / MANIFEST_FILE, problem)


def resolve(model_dir: Path) -> Path:
    """The bundle directory to load for MODEL_DIR: a single bundle as is, or ROOT's current version (BundleError if
    `current` names a version that is not in ROOT/versions)."""
    if not is_registry(model_dir):
        return model_dir
    bundle_dir = model_dir / VERSIONS / current_version(model_dir)
    if not bundle_dir.is_dir():
        raise BundleError(model_dir / CURRENT, f"names version {bundle_dir.name}, which is not in {VERSIONS}/")
    return bundle_dir


def check_servable(model_dir: Path) -> None:
    """Refuse, before TensorFlow is imported, a MODEL_DIR (or a CLI's --bundle) that cannot be served: no such
    path, a ROOT's `versions/` folder instead of the ROOT, a ROOT whose `current` cannot be read, a directory
    that is no bundle, or a bundle whose files fail the manifest's checks (missing, changed). A bundle that
    passes them but cannot be loaded (Keras refuses model.keras) is reported by the model load."""
    if model_dir.exists() and not model_dir.is_dir():
        raise BundleError(model_dir, "is a file; give the bundle's directory (or a ROOT of published versions)")
    if not model_dir.is_dir():
        raise BundleError(model_dir, "no such directory")
    if (model_dir / MANIFEST_FILE).is_file():  # a bundle, whatever its directory is called
        verified_manifest(model_dir)
        return
    if is_versions_folder(model_dir):
        raise BundleError(model_dir, f"is the {VERSIONS}/ folder of a ROOT; give the ROOT itself")
    bundle = resolve(model_dir)
    if not (bundle / MANIFEST_FILE).is_file():
        raise BundleError(bundle, "is not a model bundle (it has no manifest.json)")
    verified_manifest(bundle)


def list_versions(root: Path) -> list[str]:
    """Published versions, oldest first (names sort by creation time); staging leftovers are ignored."""
    versions = root / VERSIONS
    if not versions.is_dir():
        return []
    return sorted(p.name for p in versions.iterdir() if p.is_dir() and _VERSION.fullmatch(p.name))


def point_current(root: Path, version: str) -> None:
    """Make `ROOT/current` name `version` in one atomic step (a new symlink replaces the old one)."""
    version_dir(root, version)
    staging = root / f"{CURRENT}.tmp-{uuid.uuid4().hex[:8]}"
    os.symlink(Path(VERSIONS) / version, staging)
    try:
        os.replace(staging, root / CURRENT)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    fsync_path(root)


def publish(bundle_dir: Path, root: Path, move: bool = False) -> str:
    """Add a finished bundle as ROOT/versions/<its version> and point `current` at it; returns the version.

    With `move` the bundle directory is renamed into place (it must be on ROOT's file system), otherwise
    copied. Publishing a version that already exists is refused: published versions never change.
    """
    try:
        manifest = json.loads((bundle_dir / MANIFEST_FILE).read_text("utf-8"))
        version = check_version(manifest["version"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BundleError(bundle_dir / MANIFEST_FILE, f"cannot publish: no valid version ({error})") from None
    check_root(root)
    versions = root / VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    target = versions / version
    if target.exists():
        raise RegistryError(f"version {version} is already published in {versions}")
    if move:
        os.rename(bundle_dir, target)
        fsync_path(versions)
    else:
        staging = versions / f".{version}.partial-{uuid.uuid4().hex[:8]}"
        try:
            shutil.copytree(bundle_dir, staging)
            for item in [*staging.iterdir(), staging]:
                fsync_path(item)
            os.rename(staging, target)
            fsync_path(versions)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    point_current(root, version)
    return version


def _labels(root: Path, version: str) -> list[str] | None:
    try:
        return json.loads((root / VERSIONS / version / CONFIG_FILE).read_text("utf-8"))["labels"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def describe(root: Path) -> str:
    """One line per published version, oldest first, with its creation time and labels; `*` marks current."""
    current = current_or_none(root)
    lines = []
    for version in list_versions(root):
        problem = ""
        try:
            manifest = json.loads((root / VERSIONS / version / MANIFEST_FILE).read_text("utf-8"))
            created = manifest.get("created_at", "?")
            if manifest.get("version") != version:  # what --use, a reload and a restart refuse (check_published_as)
                problem = f"  NOT SERVABLE: its manifest names version {manifest.get('version')} (copied or renamed)"
        except (OSError, ValueError, AttributeError):
            created = "? (no readable manifest.json)"
        mark = "*" if version == current else " "
        lines.append(f"{mark} {version}  created {created}  labels {_labels(root, version)}{problem}")
    if current is None:
        lines.append(f"(no valid {CURRENT} link in {root})")
    leftovers = sorted(p.name for p in (root / VERSIONS).glob(".*") if p.is_dir())
    if leftovers:
        lines.append(
            f"unfinished publishes (a training run or a copy that was killed; safe to delete once no training runs "
            f"publishes here): {', '.join(leftovers)}"
        )
    return "\n".join(lines)


def current_or_none(root: Path) -> str | None:
    """The version `current` names, or None if it names none (nothing published yet, or a broken link)."""
    try:
        return current_version(root)
    except BundleError:
        return None


def label_change(root: Path, previous: str | None, version: str) -> str | None:
    """A warning when `version`'s labels differ from those of `previous`, the version `current` named before it:
    a running server refuses that reload (409), but a restarted one serves it."""
    before, after = (_labels(root, previous) if previous else None), _labels(root, version)
    if before is None or after is None or set(before) == set(after):  # a reload compares the sets, not the order
        return None
    return (
        f"{version} has labels {after}, {previous} had {before}: a running server refuses to reload it (409) "
        "and serves it only after a restart"
    )


def use(root: Path, version: str) -> str | None:
    """Point `current` at a published version once it loads and passes the checks a reload makes on its files;
    returns `label_change`'s warning, if any."""
    check_root(root)
    bundle_dir = version_dir(root, version)  # a mistyped version is refused before TensorFlow loads
    with native_output_logged():  # TensorFlow's C++ start-up lines, logged rather than printed
        from model.bundle import Bundle

        loaded = Bundle.load(bundle_dir)
    check_published_as(bundle_dir, loaded.version)
    previous = current_or_none(root)
    point_current(root, version)
    return label_change(root, previous, version)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model.registry",
        description="List the versions published in ROOT, or point ROOT/current at one. The server loads current "
        "when it starts (and, with MODEL_WATCH_SECONDS, whenever it moves), so --use is the rollback that lasts; "
        "POST /v1/admin/reload with a version changes only the running process.",
    )
    parser.add_argument("root", type=Path, metavar="ROOT", help="a directory that --publish wrote to")
    parser.add_argument("--use", metavar="VERSION", help="point ROOT/current at this published version")
    args = parser.parse_args(argv)
    if not (args.root / VERSIONS).is_dir():
        parser.exit(2, f"{parser.prog}: {args.root} has no {VERSIONS}/ directory: nothing was published there\n")
    if args.use is not None:
        try:
            warning = use(args.root, args.use)
        except (RegistryError, BundleError, OSError) as error:
            parser.exit(2, f"{parser.prog}: {args.use} was not made current: {error}\n")
        sys.stdout.write(f"{args.root / CURRENT} -> {VERSIONS}/{args.use}\n")
        if warning:
            sys.stderr.write(f"warning: {warning}\n")
    sys.stdout.write(describe(args.root) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
