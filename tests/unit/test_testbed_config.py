"""The test bed's daemon config: the build cache is collected, a user's config is left alone."""

from __future__ import annotations

import json

from graders.testbed import BUILD_CACHE_GC, configure_build_cache_gc


def test_a_fresh_engine_gets_a_build_cache_collector(tmp_path):
    path = tmp_path / "docker" / "daemon.json"
    configure_build_cache_gc(path)
    assert json.loads(path.read_text()) == BUILD_CACHE_GC
    assert BUILD_CACHE_GC["builder"]["gc"]["enabled"] is True


def test_an_existing_daemon_config_is_never_rewritten(tmp_path, capsys):
    path = tmp_path / "daemon.json"
    path.write_text('{"log-driver": "local"}')
    configure_build_cache_gc(path)
    assert path.read_text() == '{"log-driver": "local"}'
    said = capsys.readouterr()
    assert "no `builder.gc`" in said.out + said.err
