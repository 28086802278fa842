from __future__ import annotations

import os
from pathlib import Path

import pytest

from layers_tui.cli import main
from layers_tui.config import ConfigError, load_settings

# Assembled at run time so no complete key-shaped string is committed.
KEY = "_".join(["lp", "live", "01HX9Y6K7EJ4T2AB", "SuperSecretValue0123456789abcdefghijklmn"])


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_precedence_flags_env_file_defaults(tmp_path):
    config = write(
        tmp_path / "c.toml",
        f'api_key = "{KEY}"\nbase_url = "https://file.example"\n'
        'return_url = "https://file.example/cb"\nrefresh_interval = 30\n',
    )
    env = {"LAYERS_BASE_URL": "https://env.example", "LAYERS_RETURN_URL": "https://env.example/r"}
    loaded = load_settings({"base_url": "https://flag.example"}, env, config, tmp_path / "x")
    s = loaded.settings
    assert s.base_url == "https://flag.example"
    assert s.return_url == "https://env.example/r"
    assert s.refresh_interval == 30
    assert s.api_key.get_secret_value() == KEY
    assert s.theme == "textual-dark"
    assert loaded.sources["base_url"] == "flag"
    assert loaded.sources["return_url"] == "env LAYERS_RETURN_URL"
    assert loaded.sources["refresh_interval"].startswith("file ")


def test_profiles(tmp_path):
    config = write(
        tmp_path / "c.toml",
        'default_profile = "acme"\nrefresh_interval = 90\n'
        f'[profiles.acme]\napi_key = "{KEY}"\nbase_url = "https://acme.example"\n'
        '[profiles.test]\nbase_url = "https://test.example"\n',
    )
    assert load_settings({}, {}, config, None).settings.base_url == "https://acme.example"
    chosen = load_settings({"profile": "test"}, {}, config, None).settings
    assert chosen.base_url == "https://test.example" and chosen.refresh_interval == 90
    env_chosen = load_settings({}, {"LAYERS_PROFILE": "test"}, config, None).settings
    assert env_chosen.profile == "test"
    with pytest.raises(ConfigError, match="profile 'nope' not found .profiles: acme, test."):
        load_settings({"profile": "nope"}, {}, config, None)


def test_toml_syntax_error_names_file_line_and_column(tmp_path):
    config = write(tmp_path / "c.toml", 'theme = "x"\nrefresh_interval = = 3\n')
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {}, config, None)
    text = str(caught.value)
    assert text.startswith(f"{config}:2: invalid TOML, column")


def test_bad_value_names_line_and_key_but_not_the_secret(tmp_path):
    config = write(
        tmp_path / "c.toml", f'api_key = "{KEY}"\n\n[profiles.acme]\nrefresh_interval = 1\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings({"profile": "acme"}, {}, config, None)
    text = str(caught.value)
    assert text == (
        f"{config}:4: profiles.acme.refresh_interval: Input should be greater than or equal to 5"
    )
    assert "SuperSecret" not in text


def test_bad_url_and_unknown_key(tmp_path):
    config = write(tmp_path / "c.toml", 'base_url = "api.layers.com"\n')
    with pytest.raises(ConfigError, match=r":1: base_url: must be an absolute http\(s\) URL"):
        load_settings({}, {}, config, None)
    config = write(tmp_path / "p.toml", 'theme = "x"\nbase_url = "https://api.layers.com:44x"\n')
    with pytest.raises(ConfigError, match=r"p.toml:2: base_url: .* with a host and a valid port"):
        load_settings({}, {}, config, None)
    config = write(tmp_path / "d.toml", 'theme = "x"\nrefesh = 3\n')
    with pytest.raises(ConfigError, match=r"d.toml:2: refesh: unknown setting"):
        load_settings({}, {}, config, None)


def test_bad_env_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="environment variable LAYERS_REFRESH_INTERVAL"):
        load_settings({}, {"LAYERS_REFRESH_INTERVAL": "soon"}, None, tmp_path / "none.toml")


def test_key_file_readable_by_others_is_refused(tmp_path):
    config = write(tmp_path / "c.toml", f'api_key = "{KEY}"\n', mode=0o644)
    with pytest.raises(ConfigError, match=r"readable by others .mode 644.; run: chmod 600"):
        load_settings({}, {}, config, None)
    write(config, 'theme = "textual-light"\n', mode=0o644)  # no key: fine
    assert load_settings({}, {}, config, None).settings.theme == "textual-light"


def test_missing_explicit_config(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings({}, {}, tmp_path / "missing.toml", None)


def test_cli_config_error_is_one_line_exit_2(tmp_path, capsys):
    config = write(tmp_path / "c.toml", "refresh_interval = [\n")
    assert main(["--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and str(config) in err


def test_cli_missing_key_explains_how_to_set_it(capsys):
    assert main([]) == 2
    assert "LAYERS_API_KEY" in capsys.readouterr().err


def test_check_bad_config_is_unknown(tmp_path, capsys):
    config = write(tmp_path / "c.toml", "x = 1\n")
    assert main(["check", "--config", str(config)]) == 3


def test_version(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.startswith("layers-tui ")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://exa mple.com", "U\\+0020"),
        ("https://xn--.com", "A-label"),
        ("https://a..b", "Empty Label"),
        ("https://-api.layers.com", "hyphen"),
        ("https://" + "x" * 64 + ".com", "too long"),
    ],
)
def test_a_base_url_whose_host_is_not_a_name_is_a_config_error(tmp_path, url, why):
    config = write(tmp_path / "c.toml", f'theme = "x"\nbase_url = "{url}"\n')
    with pytest.raises(ConfigError, match=rf"c.toml:2: base_url: has a host that .*{why}"):
        load_settings({}, {}, config, None)
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {"LAYERS_BASE_URL": url}, None, tmp_path / "none.toml")
    assert "environment variable LAYERS_BASE_URL" in str(caught.value)
    assert caught.value.key == "base_url"
    with pytest.raises(ConfigError, match="from flag"):
        load_settings({"base_url": url}, {}, None, tmp_path / "none.toml")


@pytest.mark.parametrize(
    "url",
    [
        "https://api.layers.com",
        "https://münchen.example",
        "https://xn--mnchen-3ya.example/api",
        "http://127.0.0.1:8787",
        "http://[::1]:8787",
        "http://layers_sandbox:8787",
        "https://API.Layers.com.",
    ],
)
def test_usable_base_urls_are_accepted(tmp_path, url):
    settings = load_settings({"base_url": url}, {}, None, tmp_path / "none.toml").settings
    assert settings.base_url == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "https://user:{secret}@api.layers.com",
        "https://{secret}@api.layers.com/v1",
        "https://{secret}:@api.layers.com",
    ],
)
def test_a_base_url_with_userinfo_is_refused_and_never_echoed(tmp_path, capsys, url):
    url = url.format(secret=KEY)
    config = write(tmp_path / "c.toml", f'theme = "x"\nbase_url = "{url}"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {}, config, None)
    text = str(caught.value)
    assert text.startswith(f"{config}:2: base_url: must not contain user:password@")
    with pytest.raises(ConfigError) as from_env:
        load_settings({}, {"LAYERS_BASE_URL": url}, None, tmp_path / "none.toml")
    assert main(["doctor", "--config", str(config)]) == 2
    assert main(["check", "--config", str(config)]) == 3
    out = capsys.readouterr()
    for blob in (text, str(from_env.value), repr(caught.value), out.out, out.err):
        assert "SuperSecret" not in blob and "01HX9Y6K7EJ4T2AB" not in blob
    assert not list((tmp_path / "state").rglob("*SuperSecret*"))


@pytest.mark.parametrize("padding", [("", "\n"), (" ", " "), ("\t", "\r\n"), ("", "\n\n")])
def test_an_api_key_with_surrounding_whitespace_is_stripped(tmp_path, padding):
    before, after = padding
    padded = f"{before}{KEY}{after}"
    from_env = load_settings({}, {"LAYERS_API_KEY": padded}, None, tmp_path / "none.toml")
    assert from_env.settings.api_key.get_secret_value() == KEY
    escaped = padded.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    config = write(tmp_path / "c.toml", f'api_key = "{escaped.replace(chr(9), chr(92) + "t")}"\n')
    from_file = load_settings({}, {}, config, None)
    assert from_file.settings.api_key.get_secret_value() == KEY
    from_flag = load_settings({"api_key": padded}, {}, None, tmp_path / "none.toml")
    assert from_flag.settings.api_key.get_secret_value() == KEY


def test_a_blank_api_key_counts_as_missing(tmp_path):
    loaded = load_settings({}, {"LAYERS_API_KEY": " \n"}, None, tmp_path / "none.toml")
    assert loaded.settings.api_key is None


@pytest.mark.parametrize("inner", [" ", "\n", "\x1b", "é", "\u200b"])
def test_an_api_key_with_inner_junk_is_refused_without_echo(tmp_path, inner):
    broken = KEY[:20] + inner + KEY[20:]
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {"LAYERS_API_KEY": broken}, None, tmp_path / "none.toml")
    text = str(caught.value)
    assert caught.value.key == "api_key" and "LAYERS_API_KEY" in text
    assert "spaces, control or non-ASCII" in text
    assert "SuperSecret" not in text and KEY[:20] not in text


def test_the_flows_dir_never_holds_userinfo(tmp_path):
    from layers_tui import paths

    folder = paths.flows_dir(f"https://user:{KEY}@api.layers.com:8443", "live-01HX")
    assert "SuperSecret" not in str(folder) and "user" not in folder.name
    assert folder.name.startswith("api.layers.com")


def test_doctor_names_the_local_store_and_never_the_secret(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAYERS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LAYERS_API_KEY", KEY)
    monkeypatch.setenv("LAYERS_BASE_URL", "http://127.0.0.1:9")  # nothing listens: whoami fails
    monkeypatch.setenv("LAYERS_CONFIG_DIR", str(tmp_path / "config"))  # no config file
    main(["doctor"])
    out = capsys.readouterr().out
    store = tmp_path / "state" / "store" / "127.0.0.1_9-live-01HX9Y6K7EJ4T2AB.sqlite3"
    assert f"local store:      {store}" in out
    assert "SuperSecret" not in out
