"""The receive script's text form: what parses, what it means, and the one-line errors."""

from __future__ import annotations

from typing import get_args

import pytest

from harness.errors import ScriptError
from harness.scenario import WAIT_CONDITIONS, Disconnect, Request, Wait, WaitUntil, parse_script


def test_the_pr_test_script_is_a_request_then_a_disconnect():
    assert parse_script("request,disconnect").steps == (Request(), Disconnect())


def test_bodies_chunks_and_waits_parse_and_print_back_the_same():
    text = "request:hello+more,request:world,wait:idle,wait:3,wait:chunks=2,wait:start,disconnect"
    script = parse_script(text)
    assert script.steps[0] == Request(b"hello", True)
    assert script.steps[3] == Wait("checkpoints", 3)
    assert script.body == b"helloworld"
    assert str(script) == text


def test_the_wait_literal_is_checkpoints_and_the_wait_conditions():
    assert get_args(WaitUntil) == ("checkpoints", *WAIT_CONDITIONS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty step"),
        ("request,,disconnect", "empty step"),
        ("request,sleep:1", "bad step 'sleep:1'"),
        ("request,wait:chunks=0,disconnect", "bad step 'wait:chunks=0'"),
        ("disconnect,request", "'disconnect' must be the last step"),
        ("request,request", "follows the final body chunk"),
        ("request,wait:idle", "a wait must be followed by a step"),
    ],
)
def test_malformed_scripts_fail_with_one_line_naming_the_step(text, message):
    with pytest.raises(ScriptError, match=message) as info:
        parse_script(text)
    assert "\n" not in str(info.value)
