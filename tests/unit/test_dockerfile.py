"""The one Dockerfile reader: directives, continuations, comments, here-documents, lines."""

from __future__ import annotations

from buildlib.dockerfile import Instruction, parse


def keywords(text: str) -> list[tuple[str, int]]:
    return [(instruction.keyword, instruction.line) for instruction in parse(text)]


def test_instructions_and_their_lines() -> None:
    text = "# a comment\n\nFROM base AS build\nrun echo  a\n\nCOPY . /src\n"
    assert parse(text) == [
        Instruction("FROM", "base AS build", 3),
        Instruction("RUN", "echo  a", 4),
        Instruction("COPY", ". /src", 6),
    ]


def test_continuations_join_and_keep_the_first_line() -> None:
    text = "FROM base\nRUN a \\\n    && b \\  \n    && c\nENV X=1\n"
    [_, run, env] = parse(text)
    assert (run.keyword, run.line) == ("RUN", 2)
    assert run.arguments.split() == ["a", "&&", "b", "&&", "c"]
    assert env.line == 5


def test_comment_and_blank_lines_inside_a_continuation_are_left_out() -> None:
    text = "FROM base\nRUN a \\\n# not part of it\n\n    && b\nRUN c\n"
    [_, run, last] = parse(text)
    assert run.arguments.split() == ["a", "&&", "b"]
    assert (last.arguments, last.line) == ("c", 6)


def test_a_hash_inside_a_line_is_an_argument() -> None:
    [run] = parse("RUN echo a # b\n")
    assert run.arguments == "echo a # b"


def test_the_escape_directive_changes_the_continuation_character() -> None:
    text = "# escape=`\nFROM windows\nRUN dir C:\\ `\n    && echo done\nCOPY a C:\\b\\\n"
    [_, run, copy] = parse(text)
    assert run.arguments.split() == ["dir", "C:\\", "&&", "echo", "done"]
    assert (copy.arguments, copy.line) == ("a C:\\b\\", 5)  # a backslash continues nothing


def test_directives_only_count_at_the_top() -> None:
    # after an instruction, a comment, or a blank line, "# escape=" is a plain comment
    for head in ("FROM x\n", "# hello\n", "\n"):
        text = head + "# escape=`\nRUN a `\nb\n"
        assert [k for k, _ in keywords(text)][-2:] == ["RUN", "B"]
    assert keywords("# syntax=docker/dockerfile:1\n# Escape=`\nRUN a `\nb\n") == [("RUN", 3)]


def test_here_documents_belong_to_their_instruction() -> None:
    text = (
        "FROM base\nRUN <<EOF\nset -e\nFROM not-a-step\nEOF\n"
        'COPY <<-one <<"two" /dest/\n\tfirst\n\tone\nsecond\ntwo\nWORKDIR /app\n'
    )
    [_, run, copy, workdir] = parse(text)
    assert (run.heredocs, run.line) == (("set -e\nFROM not-a-step",), 2)
    assert copy.heredocs == ("first", "second")
    assert (workdir.keyword, workdir.line) == ("WORKDIR", 11)


def test_arg_and_env_assignments() -> None:
    text = "ARG A B=2 C=\"x y\"\nENV D=1 E='two words'\nENV F old style\nARG 9bad=1\nRUN X=1\n"
    found = [instruction.assignments() for instruction in parse(text)]
    assert found == [
        [("A", None), ("B", "2"), ("C", "x y")],
        [("D", "1"), ("E", "two words")],
        [("F", "old style")],
        [],
        [],
    ]


def test_any_whitespace_ends_the_instruction_word() -> None:
    # BuildKit's tokenWhitespace: moby/buildkit frontend/dockerfile/parser/parser.go
    assert parse("FROM\tbase AS x\nRUN\t\techo a\nARG \tX\nENV\t Y=1\nUSER\n") == [
        Instruction("FROM", "base AS x", 1),
        Instruction("RUN", "echo a", 2),
        Instruction("ARG", "X", 3),
        Instruction("ENV", "Y=1", 4),
        Instruction("USER", "", 5),
    ]


def test_a_stage_is_named_after_as_whatever_flags_come_before_the_image() -> None:
    text = (
        "FROM --platform=$BUILDPLATFORM base AS Builder\nFROM base as deps\nFROM base\n"
        "RUN echo AS x\n"
    )
    assert [instruction.stage for instruction in parse(text)] == ["Builder", "deps", None, None]


def test_a_file_cut_short_keeps_what_it_has() -> None:
    # the last line continues into the end of the file; a here-document never closes
    [run] = parse("RUN a \\\n\n# nothing follows\n")
    assert (run.arguments, run.line) == ("a", 1)
    [copy] = parse("COPY <<EOF /dest\nfirst\nsecond\n")
    assert copy.heredocs == ("first\nsecond",)
    assert parse("") == parse("# syntax=docker/dockerfile:1\n") == []
