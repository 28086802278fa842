"""Settings: flags > environment (LAYERS_*) > TOML file (profile, then top level) > defaults.

The loader merges plain dicts layer by layer and validates once into a frozen `Settings`.
Every problem becomes a `ConfigError` naming the file, line and key; never a traceback and
never the value of the API key.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

DEFAULT_BASE_URL = "https://api.layers.com"
ENV_VARS = {
    "api_key": "LAYERS_API_KEY",
    "base_url": "LAYERS_BASE_URL",
    "return_url": "LAYERS_RETURN_URL",
    "ads_redirect_url": "LAYERS_ADS_REDIRECT_URL",
    "refresh_interval": "LAYERS_REFRESH_INTERVAL",
    "read_only": "LAYERS_READ_ONLY",
    "theme": "LAYERS_THEME",
    "desktop_notify": "LAYERS_DESKTOP_NOTIFY",
}
PROFILE_KEYS = {
    "api_key",
    "base_url",
    "return_url",
    "ads_redirect_url",
    "read_only",
    "refresh_interval",
    "expiry_warn_days",
    "theme",
    "desktop_notify",
}
TOP_LEVEL_KEYS = PROFILE_KEYS | {
    "default_profile",
    "expiry_crit_hours",
    "concurrency",
    "profiles",
    "notify",
}
NOTIFY_KINDS = ("command", "webhook", "apprise")
# How the open dashboard tells the desktop about a status change (ui/desktop_notify.py).
DesktopNotify = Literal["off", "bell", "osc9", "osc777", "auto"]
DESKTOP_NOTIFY_MODES: tuple[str, ...] = ("off", "bell", "osc9", "osc777", "auto")


class ConfigError(Exception):
    """A configuration problem, told in one line: file:line: key: what is wrong."""

    def __init__(
        self,
        message: str,
        file: Path | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.key = key

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = str(self.file)
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"


class Settings(BaseModel):
    """Everything the app needs to start, validated once. The key is a SecretStr."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    api_key: SecretStr | None = None
    base_url: str = DEFAULT_BASE_URL
    return_url: str | None = None
    ads_redirect_url: str | None = None
    profile: str | None = None
    refresh_interval: float = Field(default=60.0, ge=5.0, le=86_400.0)
    expiry_warn_days: float = Field(default=7.0, gt=0, le=365)
    expiry_crit_hours: float = Field(default=24.0, gt=0, le=24 * 365)
    read_only: bool = False
    theme: str = "textual-dark"
    desktop_notify: DesktopNotify = "off"
    concurrency: int = Field(default=8, ge=1, le=64)
    demo: bool = False

    @field_validator("api_key")
    @classmethod
    def _sendable_key(cls, value: SecretStr | None) -> SecretStr | None:
        """Surrounding whitespace (a trailing newline from `$(cat file)`, a pasted space) is
        dropped; anything else an HTTP header cannot carry is refused, never echoed."""
        if value is None:
            return None
        key = value.get_secret_value().strip()
        if not key:
            return None
        if not re.fullmatch(r"[\x21-\x7e]+", key):
            raise ValueError(
                "contains spaces, control or non-ASCII characters, which an API key never "
                "has (check for a key pasted together with other text)"
            )
        return SecretStr(key)

    @field_validator("desktop_notify", mode="before")
    @classmethod
    def _desktop_notify_word(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("base_url", "return_url", "ads_redirect_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an absolute http(s) URL")
        try:
            parts = urlsplit(value)
            usable = parts.hostname is not None and parts.port != 0
        except ValueError:  # a port that is not a number or out of range
            usable = False
        if "@" in value.split("//", 1)[1].split("/", 1)[0]:
            # Never echoed: people paste a key here as user:password@.
            raise ValueError(
                "must not contain user:password@ (the API key belongs in api_key or LAYERS_API_KEY)"
            )
        if not usable:
            raise ValueError("must be an absolute http(s) URL with a host and a valid port")
        problem = _host_problem(parts.hostname or "")
        if problem:
            raise ValueError(f"has a host that is not a valid name ({problem})")
        return value.rstrip("/") if value.count("/") == 2 else value


def _host_problem(host: str) -> str | None:
    """Why `host` (as urlsplit gives it: lower case, no brackets) cannot be connected to, or
    None. IP literals pass; names must be valid IDNA (underscores allowed, as resolvers do)."""
    import ipaddress

    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    import idna

    try:
        idna.encode(host.replace("_", "x"))
    except (idna.IDNAError, UnicodeError) as error:
        return str(error)
    return None


class NotifyTarget(BaseModel):
    """One `[[notify]]` table: where watch sends alerts and when (see config.example.toml)."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    kind: Literal["command", "webhook", "apprise"]
    name: str | None = Field(default=None, min_length=1, max_length=60)
    command: list[str] | None = Field(default=None, min_length=1)
    url: SecretStr | None = None  # webhook or Apprise URL: may carry a token, never printed
    secret: SecretStr | None = None  # webhook signing secret, whsec_<base64>
    timeout: float = 10.0
    min_duration: float = 300.0
    stale_after: float = 900.0
    quiet_hours: str | None = None
    rate_limit: str | None = None
    min_severity: Literal["ok", "warning", "critical"] = "warning"

    @field_validator("timeout", "min_duration", "stale_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        from layers_tui.alerts import parse_duration

        if isinstance(value, bool):
            raise ValueError("is not a duration like 30s, 5m, 1h or 2d")
        seconds = float(value) if isinstance(value, int | float) else parse_duration(str(value))
        if seconds < 0:
            raise ValueError("must not be negative")
        return seconds

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if not 0 < value <= 300:
            raise ValueError("must be more than 0 s and at most 5 min")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str | None) -> str | None:
        from layers_tui.alerts import QuietHours

        if value is not None:
            QuietHours.parse(value)
        return value

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit(cls, value: str | None) -> str | None:
        from layers_tui.alerts import RateLimit

        if value is not None:
            RateLimit.parse(value)
        return value

    @field_validator("secret")
    @classmethod
    def _signing_secret(cls, value: SecretStr | None) -> SecretStr | None:
        import base64
        import binascii

        if value is None:
            return None
        raw = value.get_secret_value()
        try:
            key = base64.b64decode(raw.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not raw.startswith("whsec_") or len(key) < 16:
            raise ValueError("must be whsec_ followed by base64 of at least 16 bytes")
        return value

    def kind_problem(self) -> tuple[str, str] | None:
        """(key, what is wrong) when a key the kind needs is missing or one it has no use
        for is set."""
        needs = {"command": ("command",), "webhook": ("url", "secret"), "apprise": ("url",)}
        for key in needs[self.kind]:
            if getattr(self, key) is None:
                return key, f'is required for kind = "{self.kind}"'
        for key in ("command", "url", "secret"):
            if key not in needs[self.kind] and getattr(self, key) is not None:
                return key, f'has no use for kind = "{self.kind}"'
        if self.kind == "webhook" and self.url is not None:
            url = self.url.get_secret_value()
            if not re.match(r"^https?://[^\s/@]+", url):
                return "url", "must be an http(s) URL (without user:password@)"
        apprise_url = self.url.get_secret_value() if self.url is not None else ""
        if self.kind == "apprise" and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", apprise_url):
            return "url", "must be an Apprise URL such as mailto://... or slack://..."
        return None


@dataclass(frozen=True)
class NotifySpec:
    """A validated `[[notify]]` table and where it was written (for messages)."""

    name: str
    target: NotifyTarget
    file: Path | None
    index: int  # 1-based, in file order
    text: str = field(default="", repr=False)  # the whole file: it may hold the API key

    def key(self, key: str) -> str:
        return f"notify[{self.index}].{key}"

    def line_of(self, key: str) -> int | None:
        return _notify_line(self.text, self.index, key)


@dataclass(frozen=True)
class LoadedSettings:
    """Settings plus where they came from (for `doctor` and `config show`)."""

    settings: Settings
    config_file: Path | None
    sources: dict[str, str]
    notify: tuple[NotifySpec, ...] = ()


def load_settings(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    config_path: Path | None,
    default_path: Path | None,
) -> LoadedSettings:
    """Merge the layers and validate. `config_path` is an explicit --config (must exist);
    `default_path=None` reads no file at all (the demo)."""
    path = config_path or (Path(env["LAYERS_CONFIG"]) if env.get("LAYERS_CONFIG") else None)
    explicit = path is not None
    path = path or default_path
    file_values: dict[str, Any] = {}
    notify: tuple[NotifySpec, ...] = ()
    text = ""
    used_file: Path | None = None
    profile_name = flags.get("profile")
    if path is None:
        pass
    elif path.exists():
        text = _read(path)
        document = _parse_toml(path, text)
        _check_keys(path, text, document)
        profile_name = (
            flags.get("profile") or env.get("LAYERS_PROFILE") or document.get("default_profile")
        )
        file_values = _flatten(path, text, document, profile_name)
        notify = notify_specs(path, text, document.get("notify", []))
        if "api_key" in file_values:
            _check_private(path)
        used_file = path
    elif explicit:
        raise ConfigError("config file not found", path)
    else:
        profile_name = flags.get("profile") or env.get("LAYERS_PROFILE")
        if profile_name:
            raise ConfigError(
                f"profile {profile_name!r} requested but there is no config file (create {path})"
            )

    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, value in file_values.items():
        merged[name] = value
        sources[name] = f"file {path}"
    for name, variable in ENV_VARS.items():
        if env.get(variable):
            merged[name] = env[variable]
            sources[name] = f"env {variable}"
    for name, value in flags.items():
        if value is not None and name != "profile":
            merged[name] = value
            sources[name] = "flag"
    if profile_name:
        merged["profile"] = profile_name
        sources["profile"] = (
            "flag/env" if flags.get("profile") or env.get("LAYERS_PROFILE") else f"file {path}"
        )
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(settings)"
        origin = sources.get(key, "")
        if origin.startswith("file"):
            raise ConfigError(
                _explain(first),
                path,
                _line_of(text, key, profile_name),
                _dotted(key, profile_name, text),
            ) from None
        where = origin.replace("env ", "environment variable ") if origin else "settings"
        raise ConfigError(f"{_explain(first)} (from {where})", key=key) from None
    return LoadedSettings(settings, used_file, sources, notify)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", path) from None
    except OSError as error:
        raise ConfigError(f"cannot read ({error.strerror})", path) from None


def _parse_toml(path: Path, text: str) -> dict[str, Any]:
    import tomllib  # only when there is a file: the demo and env-only runs start faster

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # Python 3.11 keeps line/column only in the message text.
        message = str(error)
        match = re.search(r"\(at line (\d+), column (\d+)\)", message)
        line = int(match.group(1)) if match else None
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        column = f", column {match.group(2)}" if match else ""
        raise ConfigError(f"invalid TOML{column}: {reason}", path, line) from None


def _check_keys(path: Path, text: str, document: dict[str, Any]) -> None:
    for key in document:
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(
                f"unknown setting (known: {', '.join(sorted(TOP_LEVEL_KEYS))})",
                path,
                _line_of(text, key, None),
                key,
            )
    profiles = document.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(
            "must be a table of [profiles.NAME] sections",
            path,
            _line_of(text, "profiles", None),
            "profiles",
        )
    for name, table in profiles.items():
        if not isinstance(table, dict):
            raise ConfigError("must be a table", path, None, f"profiles.{name}")
        for key in table:
            if key not in PROFILE_KEYS:
                raise ConfigError(
                    f"unknown profile setting (known: {', '.join(sorted(PROFILE_KEYS))})",
                    path,
                    _line_of(text, key, name),
                    f"profiles.{name}.{key}",
                )


def _flatten(
    path: Path, text: str, document: dict[str, Any], profile_name: str | None
) -> dict[str, Any]:
    values = {
        k: v for k, v in document.items() if k not in ("profiles", "default_profile", "notify")
    }
    if profile_name:
        profiles = document.get("profiles", {})
        if profile_name not in profiles:
            known = ", ".join(sorted(profiles)) or "none defined"
            raise ConfigError(
                f"profile {profile_name!r} not found (profiles: {known})",
                path,
                _line_of(text, "default_profile", None)
                if document.get("default_profile") == profile_name
                else None,
            )
        values.update(profiles[profile_name])
    return values


def _check_private(path: Path) -> None:
    """A file holding the key must not be readable by group or others (like ssh keys)."""
    if os.name != "posix":
        return
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"holds api_key but is readable by others (mode "
            f"{stat.S_IMODE(mode):o}); run: chmod 600 {path}",
            path,
        )


def _explain(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def _dotted(key: str, profile: str | None, text: str) -> str:
    if profile and _line_of(text, key, profile, exact_table=True) is not None:
        return f"profiles.{profile}.{key}"
    return key


def _line_of(text: str, key: str, profile: str | None, exact_table: bool = False) -> int | None:
    """Find the line that sets `key`: in [profiles.<profile>] first, then at the top level."""
    table: str | None = None
    top_level_line = None
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"^\s*\[([^\]]+)\]", line)
        if header:
            table = header.group(1).strip()
            continue
        if pattern.match(line):
            if profile and table == f"profiles.{profile}":
                return number
            if table is None and top_level_line is None:
                top_level_line = number
        if key == "profiles" and header is None and line.strip().startswith("[profiles"):
            return number
    return None if exact_table else top_level_line


def notify_specs(path: Path, text: str, tables: Any) -> tuple[NotifySpec, ...]:
    """The `[[notify]]` tables, validated; a ConfigError names file, line and key."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(
            "must be [[notify]] tables (an array of tables)",
            path,
            _line_of(text, "notify", None),
            "notify",
        )
    specs: list[NotifySpec] = []
    for index, table in enumerate(tables, start=1):
        try:
            target = NotifyTarget.model_validate(table)
        except ValidationError as error:
            first = error.errors()[0]
            key = ".".join(str(part) for part in first["loc"][:1]) or "kind"
            message = _explain(first)
            if first["type"] == "extra_forbidden":
                known = ", ".join(sorted(NotifyTarget.model_fields))
                message = f"unknown notify setting (known: {known})"
            raise ConfigError(
                message, path, _notify_line(text, index, key), f"notify[{index}].{key}"
            ) from None
        problem = target.kind_problem()
        if problem is not None:
            key, message = problem
            raise ConfigError(
                message, path, _notify_line(text, index, key), f"notify[{index}].{key}"
            )
        name = target.name or f"{target.kind}-{index}"
        if any(spec.name == name for spec in specs):
            raise ConfigError(
                f"two [[notify]] targets are named {name!r}; give each its own name",
                path,
                _notify_line(text, index, "name"),
                f"notify[{index}].name",
            )
        specs.append(NotifySpec(name, target, path, index, text))
    return tuple(specs)


def _notify_line(text: str, index: int, key: str) -> int | None:
    """The line of `key` in the index-th `[[notify]]` table (its header line when the key
    is not written there)."""
    seen = 0
    header_line: int | None = None
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(r"^\s*\[", line):
            if header_line is not None:
                break
            if re.match(r"^\s*\[\[\s*notify\s*\]\]", line):
                seen += 1
                if seen == index:
                    header_line = number
            continue
        if header_line is not None and pattern.match(line):
            return number
    return header_line
