"""Spec §16 scenarios 1-34: loading, the matrix, environments and filters."""

from __future__ import annotations

import os

import pytest

from pytest_spread import FilterError, NoJobsError, ProjectError

# -- Discovery / loading (1-16) ------------------------------------------------


def test_1_project_found_from_a_subdirectory(project, monkeypatch):
    project.spread()
    project.task("tests/a")
    monkeypatch.chdir(project.root / "tests" / "a")
    from pytest_spread import build_matrix, load_project

    jobs = build_matrix(load_project()).jobs
    assert [job.name for job in jobs] == ["lxd:ubuntu-16.04:tests/a"]


def test_2_dot_spread_yaml_is_used(project):
    project.spread(name=".spread.yaml")
    project.task("tests/a")
    assert project.list() == ["lxd:ubuntu-16.04:tests/a"]


def test_3_no_project_file(tmp_path, monkeypatch):
    from pytest_spread import load_project

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProjectError) as info:
        load_project()
    if not any(
        (p / "spread.yaml").exists() or (p / ".spread.yaml").exists() for p in tmp_path.parents
    ):
        assert str(info.value) == (
            "cannot load project file from .: cannot find spread.yaml or .spread.yaml"
        )


DEFAULT_BODY = """\
backends:
    lxd:
        systems: [ubuntu-16.04]
suites:
    tests/:
        summary: s
"""


@pytest.mark.parametrize(
    ("head", "message"),
    [
        ("project: Hello\npath: /r\n", 'invalid project name: "Hello"'),
        ("path: /r\n", 'invalid project name: ""'),
        ("project: p\n", "missing project path field with remote project location"),
    ],
)
def test_4_5_project_name_and_path(project, head, message):
    project.spread(head + DEFAULT_BODY)
    with pytest.raises(ProjectError) as info:
        project.matrix()
    assert info.value.message == message
    assert str(info.value).startswith("spread.yaml:")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("relative/dir", "remote project path must be absolute and not /: relative/dir"),
        ("/", "remote project path must be absolute and not /: /"),
    ],
)
def test_6_bad_remote_path(project, path, message):
    project.spread(f"project: p\npath: {path}\n" + DEFAULT_BODY)
    project.task("tests/a")
    with pytest.raises(ProjectError) as info:
        project.list()
    assert info.value.message == message


def test_6_remote_path_is_cleaned(project):
    project.spread("project: p\npath: /a/b/../c/\n" + DEFAULT_BODY)
    project.task("tests/a")
    assert ("SPREAD_PATH", "/a/c") in project.env("lxd:ubuntu-16.04:tests/a")


@pytest.mark.parametrize(
    ("backends", "message"),
    [
        ("Lxd: {systems: [ubuntu-16.04]}", 'invalid backend name: "Lxd"'),
        ("docker: {systems: [ubuntu-16.04]}", 'backend "docker" has unsupported type "docker"'),
        (
            "lxd: {allocate: x, systems: [ubuntu-16.04]}",
            'backend "lxd" cannot use allocate and dispose fields',
        ),
        ("adhoc: {systems: [ubuntu-16.04]}", 'backend "adhoc" requires an allocate field'),
        ("lxd: {systems: [ubuntu]}", 'backend "lxd" refers to invalid system name: "ubuntu"'),
        (
            "lxd: {systems: [ubuntu-16.04: {workers: -1}]}",
            'backend "lxd" has system "ubuntu-16.04" with -1 workers',
        ),
        ("lxd: {systems: []}", 'no systems specified for backend "lxd"'),
        ("lxd:", "must define at least one backend"),
    ],
)
def test_7_8_9_backends(project, backends, message):
    project.spread(
        f"project: p\npath: /r\nbackends:\n    {backends}\nsuites:\n    tests/: {{summary: s}}\n"
    )
    with pytest.raises(ProjectError) as info:
        project.matrix()
    assert info.value.message == message


def test_9_no_suites(project):
    project.spread("project: p\npath: /r\nbackends:\n    lxd: {systems: [ubuntu-16.04]}\n")
    with pytest.raises(ProjectError) as info:
        project.matrix()
    assert info.value.message == "must define at least one task suite"


@pytest.mark.parametrize(
    ("suite", "message"),
    [
        ("tests: {summary: s}", 'invalid suite name (must end with /): "tests"'),
        ("Tests/: {summary: s}", 'invalid suite name: "Tests/"'),
        ("tests/: {}", "suite tests/ is missing a summary"),
    ],
)
def test_10_suites(project, suite, message):
    project.spread(
        "project: p\npath: /r\nbackends:\n    lxd: {systems: [ubuntu-16.04]}\n"
        f"suites:\n    {suite}\n"
    )
    (project.root / "tests").mkdir()
    with pytest.raises(ProjectError) as info:
        project.matrix()
    assert info.value.message == message


def test_11_tasks(project):
    project.spread()
    project.task("tests/Main")
    with pytest.raises(ProjectError) as info:
        project.matrix()
    assert info.value.message == 'invalid task name: "tests/Main"'
    os.rename(project.root / "tests/Main", project.root / "tests/main")
    (project.root / "tests/main/task.yaml").write_text("details: no summary\n")
    with pytest.raises(ProjectError) as info:
        project.matrix()
    assert info.value.message == "tests/main is missing a summary"
    (project.root / "tests/main/task.yaml").unlink()
    (project.root / "tests/main/notes.txt").write_text("not a task\n")
    project.task("tests/other")
    assert project.list() == ["lxd:ubuntu-16.04:tests/other"]


@pytest.mark.parametrize("artifact", ["some/dir/", "/abs", "../x", "a/./b"])
def test_12_improper_artifacts(project, artifact):
    project.spread()
    project.task("tests/main", f"summary: t\nartifacts: ['{artifact}']\n")
    with pytest.raises(ProjectError) as info:
        project.matrix()
    assert info.value.message == f"tests/main has improper artifact path: {artifact}"


def test_12_proper_artifacts(project):
    project.spread()
    project.task("tests/main", "summary: t\nartifacts: [some/dir, a*.log, ..]\n")
    (task,) = project.matrix().project.tasks()
    assert task.artifacts == ("some/dir", "a*.log", "..")


def test_13_environment_names(project):
    project.spread("project: p\npath: /r\nenvironment:\n    FOO-BAR: x\n" + DEFAULT_BODY)
    with pytest.raises(ProjectError) as info:
        project.matrix()
    assert info.value.message == 'invalid project environment: invalid variable name: "FOO-BAR"'
    project.spread()
    project.task("tests/main", "summary: t\nenvironment:\n    A: 1\n    A: 2\n")
    with pytest.raises(ProjectError) as info:
        project.matrix()
    assert (
        info.value.message == 'invalid tests/main environment: variable "A" defined multiple times'
    )
    assert info.value.line == 4


@pytest.mark.parametrize("value", ["30", "-1"])
def test_14_bad_timeouts(project, value):
    project.spread(f"project: p\npath: /r\nkill-timeout: {value}\n" + DEFAULT_BODY)
    with pytest.raises(ProjectError) as info:
        project.matrix()
    assert info.value.message == f'timeout must look like 10s or 15m or 1.5h, not "{value}"'
    assert info.value.line == 3 and info.value.field == "kill-timeout"


@pytest.mark.parametrize(
    ("value", "nanoseconds"),
    [("1.5h", 5_400_000_000_000), ("1m30s", 90_000_000_000), ("-1ns", -1), ("0", 0)],
)
def test_14_good_timeouts(project, value, nanoseconds):
    (project.root / "tests").mkdir()
    project.spread(f"project: p\npath: /r\nkill-timeout: {value}\n" + DEFAULT_BODY)
    assert project.matrix().project.timeouts.kill == nanoseconds


@pytest.mark.parametrize(
    ("memory", "message"),
    [
        ("1024", 'unknown size suffix in "1024", must be one of: B, K, M, G'),
        ("1.5G", 'invalid size string: "1.5G"'),
    ],
)
def test_15_bad_sizes(project, memory, message):
    project.spread(
        f"project: p\npath: /r\nbackends:\n    qemu:\n        memory: {memory}\n"
        "        systems: [ubuntu-16.04]\nsuites:\n    tests/: {summary: s}\n"
    )
    with pytest.raises(ProjectError) as info:
        project.matrix()
    assert info.value.message == message


def test_16_values_keep_their_text(project):
    project.spread(
        "project: p\npath: /r\nenvironment:\n    FOO: 010\n    BAR: yes\n"
        "    BAZ: 1.50\n    NUL:\n" + DEFAULT_BODY
    )
    project.task("tests/a")
    env = dict(project.env("lxd:ubuntu-16.04:tests/a"))
    assert (env["FOO"], env["BAR"], env["BAZ"], env["NUL"]) == ("010", "yes", "1.50", "")


# -- Matrix / variants / cascades (17-29) --------------------------------------

README_SUITE = """\
project: p
path: /r
backends:
    lxd:
        systems: [ubuntu-16.04, ubuntu-18.04]
suites:
    tests/:
        summary: s
        environment:
            SUBJECT/foo: sanity
            SUBJECT/bar: lunacy
"""
README_TASK = """\
summary: t
environment:
    GREETING: Hello
    GREETING/bar: Goodbye
    SUBJECT/baz: world
"""


def test_17_readme_variants(project):
    project.spread(README_SUITE)
    project.task("tests/hello", README_TASK)
    assert project.list() == [
        f"lxd:{system}:tests/hello:{variant}"
        for system in ("ubuntu-16.04", "ubuntu-18.04")
        for variant in ("bar", "baz", "foo")
    ]
    bar = dict(project.env("lxd:ubuntu-16.04:tests/hello:bar"))
    assert (bar["SUBJECT"], bar["GREETING"]) == ("lunacy", "Goodbye")
    baz = dict(project.env("lxd:ubuntu-16.04:tests/hello:baz"))
    assert (baz["GREETING"], baz["SUBJECT"]) == ("Hello", "world")


@pytest.mark.parametrize(
    ("variants", "expected"),
    [
        ("[-bar]", ["baz", "foo"]),
        ("[foo, baz]", ["baz", "foo"]),
        ("[+buz]", ["bar", "baz", "buz", "foo"]),
        ("[-b*]", ["foo"]),
        ("[-foo, +qux]", ["bar", "baz", "qux"]),
        ('["foo*"]', ["foo", "foo*"]),
    ],
)
def test_18_variant_lists(project, variants, expected):
    project.spread(README_SUITE)
    project.task("tests/hello", README_TASK + f"variants: {variants}\n")
    assert project.list("ubuntu-16.04") == [f"lxd:ubuntu-16.04:tests/hello:{v}" for v in expected]


def test_19_delta_and_plain(project):
    project.spread(README_SUITE)
    project.task("tests/hello", README_TASK + "variants: [foo, -bar]\n")
    with pytest.raises(ProjectError) as info:
        project.matrix()
    assert info.value.message == "tests/hello specifies variants both in delta and plain format"


TWO_BACKENDS = """\
project: p
path: /r
backends:
    lxd:
        systems: [ubuntu-16.04, ubuntu-18.04]
    qemu:
        systems: [ubuntu-16.04, debian-9]
suites:
    tests:/
"""


def two_backends(project, suite_extra="", task_a="summary: t\n"):
    project.spread(
        TWO_BACKENDS.replace("    tests:/\n", "    tests/:\n        summary: s\n" + suite_extra)
    )
    project.task("tests/a", task_a)
    project.task("tests/b")


def test_20_systems_cascade(project):
    two_backends(project, "        systems: [-ubuntu-18.04]\n", "summary: t\nsystems: [ubuntu-*]\n")
    assert project.list() == [
        "lxd:ubuntu-16.04:tests/a",
        "lxd:ubuntu-16.04:tests/b",
        "lxd:ubuntu-18.04:tests/a",
        "qemu:debian-9:tests/b",
        "qemu:ubuntu-16.04:tests/a",
        "qemu:ubuntu-16.04:tests/b",
    ]


def test_21_backends_cascade(project):
    two_backends(project, "        backends: [qemu]\n", "summary: t\nbackends: [+lxd]\n")
    assert project.list() == [
        "lxd:ubuntu-16.04:tests/a",
        "lxd:ubuntu-18.04:tests/a",
        "qemu:debian-9:tests/a",
        "qemu:debian-9:tests/b",
        "qemu:ubuntu-16.04:tests/a",
        "qemu:ubuntu-16.04:tests/b",
    ]


def test_22_system_missing_from_a_backend(project):
    two_backends(project, "", "summary: t\nsystems: [debian-9]\n")
    assert project.list() == [
        "lxd:ubuntu-16.04:tests/b",
        "lxd:ubuntu-18.04:tests/b",
        "qemu:debian-9:tests/a",
        "qemu:debian-9:tests/b",
        "qemu:ubuntu-16.04:tests/b",
    ]


def test_23_suite_delta_and_plain(project):
    two_backends(project, "        systems: [ubuntu-16.04, -debian-9]\n")
    with pytest.raises(ProjectError) as info:
        project.matrix()
    assert info.value.message == "suite tests/ specifies systems both in delta and plain format"


def test_24_backend_variants_replace_project_variants(project):
    project.spread(
        "project: p\npath: /r\nenvironment:\n    X/a: 1\n    X/b: 2\n"
        "backends:\n    lxd:\n        variants: [c]\n        systems: [ubuntu-16.04]\n"
        "suites:\n    tests/: {summary: s}\n"
    )
    project.task("tests/hello")
    assert project.list() == ["lxd:ubuntu-16.04:tests/hello:c"]
    assert "X" not in dict(project.env("lxd:ubuntu-16.04:tests/hello:c"))


def test_25_samples(project):
    project.spread()
    project.task("tests/x", "summary: t\nsamples: 2\nenvironment:\n    A/one: 1\n    A/two: 2\n")
    project.task("tests/x-2")
    assert project.list() == [
        "lxd:ubuntu-16.04:tests/x-2",
        "lxd:ubuntu-16.04:tests/x:one#1",
        "lxd:ubuntu-16.04:tests/x:two#1",
        "lxd:ubuntu-16.04:tests/x:one#2",
        "lxd:ubuntu-16.04:tests/x:two#2",
    ]
    env = dict(project.env("lxd:ubuntu-16.04:tests/x:two#2"))
    assert (env["SPREAD_SAMPLE"], env["SPREAD_JOB"]) == ("2", "lxd:ubuntu-16.04:tests/x:two#2")


def test_26_environment_order(project):
    project.spread(
        "project: p\npath: /r\nenvironment:\n    A: one\n    X: default\n"
        "backends:\n    lxd:\n        environment: {B: two}\n"
        "        systems: [ubuntu-16.04]\n"
        "suites:\n    tests/:\n        summary: s\n"
        "        environment: {A: suite-a, X/v1: special}\n"
    )
    project.task("tests/t", "summary: t\nenvironment:\n    D: $A\n")
    assert project.env("lxd:ubuntu-16.04:tests/t:v1") == [
        ("SPREAD_JOB", "lxd:ubuntu-16.04:tests/t:v1"),
        ("SPREAD_PROJECT", "p"),
        ("SPREAD_PATH", "/r"),
        ("SPREAD_BACKEND", "lxd"),
        ("SPREAD_SYSTEM", "ubuntu-16.04"),
        ("SPREAD_SUITE", "tests/"),
        ("SPREAD_TASK", "tests/t"),
        ("SPREAD_VARIANT", "v1"),
        ("SPREAD_SAMPLE", "1"),
        ("B", "two"),
        ("A", "suite-a"),
        ("X", "special"),
        ("D", "$A"),
    ]


def test_27_variant_value_beats_a_later_plain_value(project):
    project.spread(
        "project: p\npath: /r\nbackends:\n    lxd: {systems: [ubuntu-16.04]}\n"
        "suites:\n    tests/:\n        summary: s\n        environment: {X/a: s}\n"
    )
    project.task("tests/t", "summary: t\nenvironment:\n    X: t\n")
    assert dict(project.env("lxd:ubuntu-16.04:tests/t:a"))["X"] == "s"


def test_28_host_commands(project):
    project.spread(
        "project: p\npath: /r\nenvironment:\n    H: $(HOST:echo hi)\n"
        "    T: $(HOST:date +%N)\n" + DEFAULT_BODY
    )
    project.task("tests/a")
    project.task("tests/b")
    env_a = dict(project.env("lxd:ubuntu-16.04:tests/a"))
    assert env_a["H"] == "hi"
    matrix = project.matrix()
    from pytest_spread import job_environment

    values = {dict(job_environment(job, matrix))["T"] for job in matrix.jobs}
    assert len(values) == 1


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("false", "$(HOST:false) in project environment returned error: exit status 1"),
        (
            "echo oops >&2; false",
            "$(HOST:echo oops >&2; false) in project environment returned error: oops",
        ),
    ],
)
def test_28_failing_host_commands(project, command, message):
    project.spread(f"project: p\npath: /r\nenvironment:\n    H: $(HOST:{command})\n" + DEFAULT_BODY)
    project.task("tests/a")
    with pytest.raises(ProjectError) as info:
        project.list()
    assert info.value.message == message
    assert info.value.line == 4


def test_29_credentials(project):
    project.spread(
        "project: p\npath: /r\nenvironment:\n    U: $(HOST:echo bob)\n"
        "    PW: secret\nbackends:\n    lxd:\n        systems:\n"
        "            - ubuntu-16.04: {username: $U, password: $PW}\n"
        "            - ubuntu-18.04: {password: pa$$word}\n"
        "suites:\n    tests/: {summary: s}\n"
    )
    project.task("tests/a")
    credentials = project.matrix().credentials
    assert credentials["lxd:ubuntu-16.04"] == ("bob", "secret")
    assert credentials["lxd:ubuntu-18.04"] == ("", "pa$$word")


# -- Filters / manual (30-34) --------------------------------------------------


def one_job(project, name):
    """A project with exactly the job `backend:image:suite/test:variant`."""
    project.spread(
        "project: p\npath: /r\nbackends:\n    backend: {type: lxd, systems: [image-1]}\n"
        "suites:\n    suite/:\n        summary: s\n        environment: {X/variant: 1}\n"
    )
    project.task("suite/test")
    (job,) = project.matrix().jobs
    assert job.name == name
    return job


@pytest.mark.parametrize(
    "argument",
    [
        "backend",
        "backend:",
        "image-1",
        ":image-1:",
        "suite/test",
        "suit...est",
        "suite/",
        "/test",
        ":variant",
        "...",
        "im...",
        "...-1",
    ],
)
def test_30_filter_passes(project, argument):
    job = one_job(project, "backend:image-1:suite/test:variant")
    from pytest_spread.project.filters import JobFilter

    assert JobFilter(argument).matches(job)


@pytest.mark.parametrize("argument", ["nothing", "noth...", "...hing", ":backend", "suite", "test"])
def test_30_filter_blocks(project, argument):
    job = one_job(project, "backend:image-1:suite/test:variant")
    from pytest_spread.project.filters import JobFilter

    assert not JobFilter(argument).matches(job)


def readme_jobs(project):
    project.spread(
        "project: p\npath: /r\nbackends:\n    lxd: {systems: [ubuntu-16.04]}\n"
        "suites:\n    mysuite/: {summary: s}\n"
    )
    project.task("mysuite/task-one", "summary: t\nvariants: [variant-a]\n")
    project.task("mysuite/task-two", "summary: t\nvariants: [variant-b]\n")


ONE = "lxd:ubuntu-16.04:mysuite/task-one:variant-a"
TWO = "lxd:ubuntu-16.04:mysuite/task-two:variant-b"


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("/task-one", [ONE]),
        ("mysu...one", [ONE]),
        ("lxd:ubuntu-16.04:variant-a", [ONE]),
        ("variant-a", [ONE]),
        ("lxd:variant-b", [TWO]),
        ("/task-t...", [TWO]),
        ("lxd", [ONE, TWO]),
        ("lxd:mysuite/", [ONE, TWO]),
        ("ubuntu-...", [ONE, TWO]),
        ("/task...", [ONE, TWO]),
    ],
)
def test_31_readme_filters(project, argument, expected):
    readme_jobs(project)
    assert project.list(argument) == expected


@pytest.mark.parametrize("argument", ["mysuite", "task-one", "lxd:/task-one", "ubuntu"])
def test_31_readme_filters_matching_nothing(project, argument):
    readme_jobs(project)
    with pytest.raises(NoJobsError) as info:
        project.list(argument)
    assert str(info.value) == "nothing matches provider filter"


def test_32_filters_are_ored(project):
    two_backends(project)
    assert project.list("ubuntu-16.04", "/b") == [
        "lxd:ubuntu-16.04:tests/a",
        "lxd:ubuntu-16.04:tests/b",
        "lxd:ubuntu-18.04:tests/b",
        "qemu:debian-9:tests/b",
        "qemu:ubuntu-16.04:tests/a",
        "qemu:ubuntu-16.04:tests/b",
    ]
    assert project.list("qemu:tests/") == [
        "qemu:debian-9:tests/a",
        "qemu:debian-9:tests/b",
        "qemu:ubuntu-16.04:tests/a",
        "qemu:ubuntu-16.04:tests/b",
    ]
    with pytest.raises(NoJobsError):
        project.list("ubuntu-16.04:/a")


def test_33_sample_filters(project):
    project.spread()
    project.task("tests/x", "summary: t\nsamples: 2\nenvironment:\n    A/one: 1\n    A/two: 2\n")
    project.task("tests/x-2")
    assert project.list("/x#2") == [
        "lxd:ubuntu-16.04:tests/x:one#2",
        "lxd:ubuntu-16.04:tests/x:two#2",
    ]
    assert len(project.list("tests/...#1..2")) == 5
    assert project.list("/x#1..0") == [
        "lxd:ubuntu-16.04:tests/x:one#1",
        "lxd:ubuntu-16.04:tests/x:two#1",
    ]


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("x#0", 'invalid sample range in filter string: "x#0"'),
        ("/x#3..1", 'invalid sample range in filter string: "/x#3..1"'),
        ("a..b", 'invalid filter string: ".."'),
        ("a#b", 'invalid filter string: "#"'),
    ],
)
def test_33_bad_filters(project, argument, message):
    project.spread()
    project.task("tests/x")
    with pytest.raises(FilterError) as info:
        project.list(argument)
    assert str(info.value) == message


MANUAL = """\
project: p
path: /r
backends:
    lxd-a:
        type: lxd
        systems: [ubuntu-16.04-a, {ubuntu-16.04-m: {manual: true}}]
    lxd-m:
        type: lxd
        manual: true
        systems: [ubuntu-16.04-a, {ubuntu-16.04-m: {manual: true}}]
suites:
    checks-a/: {summary: s}
    checks-m/: {summary: s, manual: true}
"""


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ((), "lxd-a:ubuntu-16.04-a:checks-a/task-a"),
        (("lxd-m",), "lxd-m:ubuntu-16.04-a:checks-a/task-a"),
        (("ubuntu-16.04-m",), "lxd-a:ubuntu-16.04-m:checks-a/task-a"),
        (("checks-m/",), "lxd-a:ubuntu-16.04-a:checks-m/task-a"),
        (("/task-m",), "lxd-a:ubuntu-16.04-a:checks-a/task-m"),
        (("lxd-...",), "lxd-a:ubuntu-16.04-a:checks-a/task-a"),
        (("ubuntu-...",), "lxd-a:ubuntu-16.04-a:checks-a/task-a"),
        (("checks-.../",), "lxd-a:ubuntu-16.04-a:checks-a/task-a"),
        (("/task-...",), "lxd-a:ubuntu-16.04-a:checks-a/task-a"),
    ],
)
def test_34_manual(project, arguments, expected):
    project.spread(MANUAL)
    for suite in ("checks-a", "checks-m"):
        project.task(f"{suite}/task-a")
        project.task(f"{suite}/task-m", "summary: t\nmanual: true\n")
    assert project.list(*arguments) == [expected]


# -- Job order on one machine (48) ----------------------------------------------


def test_48_priority_order(project):
    from pytest_spread.project.order import lane_sequence

    project.spread()
    project.task("tests/a", "summary: t\npriority: 10\n")
    project.task("tests/b")
    project.task("tests/c", "summary: t\npriority: -5\n")
    jobs = project.matrix().jobs
    for seed in (0, 1, 2, 3, 99):
        assert [job.task.name for job in lane_sequence(jobs, seed)] == [
            "tests/a",
            "tests/b",
            "tests/c",
        ]


def test_48_explicit_zero_priority_beats_the_suite(project):
    project.spread(DEFAULT_SPREAD_YAML_WITH_PRIORITY)
    project.task("tests/a", "summary: t\npriority: 0\n")
    project.task("tests/b")
    priorities = {job.task.name: job.priority for job in project.matrix().jobs}
    assert priorities == {"tests/a": 0, "tests/b": 5}


DEFAULT_SPREAD_YAML_WITH_PRIORITY = """\
project: p
path: /r
backends:
    lxd:
        systems: [ubuntu-16.04]
suites:
    tests/:
        summary: s
        priority: 5
"""


def test_suite_affinity_and_samples(project):
    from pytest_spread.project.order import lane_sequence

    project.spread(
        "project: p\npath: /r\nbackends:\n    lxd: {systems: [ubuntu-16.04]}\n"
        "suites:\n    one/: {summary: s}\n    two/: {summary: s}\n"
    )
    for name in ("one/a", "one/b", "two/c", "two/d"):
        project.task(name)
    project.task("one/s", "summary: t\nsamples: 3\n")
    jobs = project.matrix().jobs
    for seed in range(1, 30):
        order = [f"{job.task.name}#{job.sample}" for job in lane_sequence(jobs, seed)]
        suites = [name.split("/")[0] for name in order]
        assert suites in (["one"] * 5 + ["two"] * 2, ["two"] * 2 + ["one"] * 5), order
        samples = [name for name in order if name.startswith("one/s")]
        first = order.index(samples[0])
        assert order[first : first + 3] == ["one/s#1", "one/s#2", "one/s#3"]
    assert lane_sequence(jobs, 7) == lane_sequence(jobs, 7)
    assert len({tuple(lane_sequence(jobs, seed)) for seed in range(1, 30)}) > 1
