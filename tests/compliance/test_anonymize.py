"""Mondrian anonymisation, checked by an independent computation of k, l and t (pandas
group-bys and our own EMD here, not the module's code), on a seeded synthetic table."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backbeat.compliance import AnonymizationError, Hierarchy, anonymize, read_hierarchy

QUASI = ["age", "zip", "sex", "job"]


@pytest.fixture(scope="module")
def people() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 3000
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "zip": rng.choice([f"750{i:02d}" for i in range(20)], n),
            "sex": rng.choice(["F", "M"], n),
            "job": rng.choice(["nurse", "driver", "teacher", "clerk", "chef", "cook"], n),
            "disease": rng.choice(["flu", "cold", "asthma", "ulcer", "none"], n),
            "salary": rng.integers(20, 120, n) * 1000,
        }
    )


def _classes(out: pd.DataFrame) -> pd.core.groupby.DataFrameGroupBy:
    return out.groupby(QUASI, dropna=False)


def _covers(label: str, value: object) -> bool:
    """Whether a generalised label covers an original value (our own reading of labels)."""
    text = str(label)
    if text.startswith("{"):
        return str(value) in text[1:-1].split(",")
    range_ = re.fullmatch(r"(-?\d+(?:\.\d+)?)-(-?\d+(?:\.\d+)?)", text)
    if range_ and isinstance(value, int | np.integer | float):
        return float(range_.group(1)) <= float(value) <= float(range_.group(2))
    return text == str(value)


def _emd_ordered(part: pd.Series, whole: pd.Series) -> float:
    levels = np.sort(whole.unique())
    p = part.value_counts(normalize=True).reindex(levels, fill_value=0).to_numpy()
    q = whole.value_counts(normalize=True).reindex(levels, fill_value=0).to_numpy()
    return float(np.abs(np.cumsum(p - q)[:-1]).sum() / (len(levels) - 1))


@pytest.mark.parametrize("k", [2, 5, 25])
def test_every_class_has_k_rows_and_covers_its_originals(people: pd.DataFrame, k: int) -> None:
    result = anonymize(people, k=k, quasi=QUASI)
    out = result.frame
    assert len(out) == len(people)  # nothing suppressed: no empty quasi-identifiers
    sizes = _classes(out).size()
    assert sizes.min() >= k
    assert result.k == sizes.min()
    assert result.classes == len(sizes)
    for column in QUASI:
        assert all(_covers(g, o) for g, o in zip(out[column], people[column], strict=True))
    assert list(out.columns) == list(people.columns)
    assert result.discernibility == float((sizes.to_numpy() ** 2).sum())
    assert 0 < result.ncp < 1
    assert result.average_class_size == pytest.approx(len(people) / (len(sizes) * k))
    # Mondrian is not trivial: far more classes than a single generalised table
    assert len(sizes) > len(people) / (4 * k)


def test_larger_k_loses_more_information(people: pd.DataFrame) -> None:
    ncps = [anonymize(people, k=k, quasi=QUASI).ncp for k in (2, 10, 50)]
    assert ncps == sorted(ncps)
    assert ncps[0] < ncps[-1]


def test_distinct_and_entropy_l_diversity(people: pd.DataFrame) -> None:
    result = anonymize(people, k=5, quasi=QUASI, sensitive="disease", l=3)
    per_class = _classes(result.frame)["disease"].nunique()
    assert per_class.min() >= 3
    assert result.l == per_class.min()
    entropy = anonymize(people, k=5, quasi=QUASI, sensitive="disease", l=2.5, l_kind="entropy")

    def exp_entropy(values: pd.Series) -> float:
        p = values.value_counts(normalize=True).to_numpy()
        return float(np.exp(-(p * np.log(p)).sum()))

    assert _classes(entropy.frame)["disease"].apply(exp_entropy).min() >= 2.5 - 1e-9


def test_t_closeness_on_a_numeric_sensitive_column(people: pd.DataFrame) -> None:
    result = anonymize(people, k=5, quasi=QUASI, sensitive="salary", t=0.15)
    distances = _classes(result.frame)["salary"].apply(
        lambda part: _emd_ordered(part, people["salary"])
    )
    assert distances.max() <= 0.15 + 1e-9
    assert result.t == pytest.approx(distances.max(), abs=1e-6)
    loose = anonymize(people, k=5, quasi=QUASI)
    assert result.classes < loose.classes  # the property costs splits


def test_hierarchies_generalise_to_their_levels(people: pd.DataFrame, tmp_path: Path) -> None:
    file = tmp_path / "job.csv"
    file.write_text(
        "nurse;care;*\ndriver;transport;*\nteacher;education;*\n"
        "clerk;office;*\nchef;kitchen;*\ncook;kitchen;*\n"
    )
    hierarchy = read_hierarchy(file)
    result = anonymize(people, k=10, quasi=QUASI, hierarchies={"job": hierarchy})
    allowed = {"nurse", "driver", "teacher", "clerk", "chef", "cook", "care", "transport"}
    allowed |= {"education", "office", "kitchen", "*"}
    assert set(result.frame["job"]) <= allowed
    for label, original in zip(result.frame["job"], people["job"], strict=True):
        assert label == original or label in hierarchy.ancestors[original]
    with pytest.raises(AnonymizationError, match="no entry for") as info:
        anonymize(people, k=10, quasi=QUASI, hierarchies={"job": Hierarchy({"nurse": ("*",)})})
    assert info.value.code == "compliance.hierarchy_incomplete"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"k": 5, "quasi": ["age", "height"]}, "compliance.column_missing"),
        ({"k": 5000, "quasi": QUASI}, "compliance.k_too_large"),
        ({"k": 5, "quasi": QUASI, "sensitive": "sex2"}, "compliance.column_missing"),
        ({"k": 5, "quasi": QUASI, "l": 2}, "compliance.sensitive_missing"),
        ({"k": 5, "quasi": QUASI, "sensitive": "disease", "l": 6}, "compliance.l_unreachable"),
        ({"k": 5, "quasi": QUASI, "sensitive": "age"}, "compliance.sensitive_is_quasi"),
        ({"k": 5, "quasi": QUASI, "sensitive": "salary", "t": 0}, "compliance.t_invalid"),
    ],
)
def test_bad_requests_are_named(people: pd.DataFrame, kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(AnonymizationError) as info:
        anonymize(people, **kwargs)  # type: ignore[arg-type]
    assert info.value.code == code


def test_empty_quasi_identifiers_are_suppressed_within_the_budget(people: pd.DataFrame) -> None:
    holes = people.copy().astype({"age": "float"})
    holes.loc[:9, "age"] = np.nan
    result = anonymize(holes, k=5, quasi=QUASI)
    assert result.suppressed == 10
    assert len(result.frame) == len(people) - 10
    assert result.discernibility >= 10 * len(people)
    with pytest.raises(AnonymizationError) as info:
        anonymize(holes, k=5, quasi=QUASI, max_suppression=0.001)
    assert info.value.code == "compliance.suppression_exceeded"
    empty = people.copy()
    empty["zip"] = None
    with pytest.raises(AnonymizationError) as info:
        anonymize(empty, k=5, quasi=QUASI)
    assert info.value.code == "compliance.column_empty"


def test_cli_writes_the_csv_and_prints_the_figures(people: pd.DataFrame, tmp_path: Path) -> None:
    source, out = tmp_path / "people.csv", tmp_path / "anon.csv"
    people.to_csv(source, index=False)
    backbeat = str(Path(sys.executable).with_name("backbeat"))
    done = subprocess.run(
        [
            backbeat,
            "anonymize",
            str(source),
            "--k",
            "5",
            "--quasi",
            ",".join(QUASI),
            "--sensitive",
            "disease",
            "--l",
            "2",
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    written = pd.read_csv(out, dtype=str)
    sizes = written.groupby(QUASI).size()
    assert report["k"] == sizes.min() >= 5
    assert report["l"] >= 2
    assert report["suppressed"] == 0
    assert 0 < report["ncp"] < 1
    assert any("-" in v for v in written["age"])  # ranges such as 30-39
    bad = subprocess.run(
        [
            backbeat,
            "anonymize",
            str(source),
            "--k",
            "5",
            "--quasi",
            "age,height",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0
    assert "compliance.column_missing" in bad.stderr
    assert "height" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_pseudonyms_are_keyed_stable_and_joinable(people: pd.DataFrame) -> None:
    from backbeat.compliance import pseudonymize

    frame = people.assign(email=[f"p{i % 50}@example.org" for i in range(len(people))])
    a = pseudonymize(frame, ["email"], b"k" * 32)
    b = pseudonymize(frame, ["email"], b"k" * 32)
    c = pseudonymize(frame, ["email"], b"j" * 32)
    assert a["email"].equals(b["email"])
    assert not a["email"].equals(c["email"])
    assert a["email"].nunique() == 50
    assert not a["email"].str.contains("@").any()
    assert a.drop(columns="email").equals(frame.drop(columns="email"))
    with pytest.raises(AnonymizationError):
        pseudonymize(frame, ["email"], b"short")


def test_cli_warns_of_personal_data_left_and_pseudonymises(
    people: pd.DataFrame, tmp_path: Path
) -> None:
    source, out = tmp_path / "people.csv", tmp_path / "anon.csv"
    people.assign(email=[f"p{i}@example.org" for i in range(len(people))]).to_csv(
        source, index=False
    )
    backbeat = str(Path(sys.executable).with_name("backbeat"))
    env = {**os.environ, "BACKBEAT_DATA_DIR": str(tmp_path / "var")}
    common = [backbeat, "anonymize", str(source), "--k", "5", "--quasi", ",".join(QUASI)]
    left = subprocess.run(
        [*common, "--out", str(out), "--json"], capture_output=True, text=True, env=env, timeout=120
    )
    assert left.returncode == 0, left.stderr
    assert json.loads(left.stdout)["pii_left"] == {"email": {"email": len(people)}}
    assert "column email still holds personal data" in left.stderr
    hidden = subprocess.run(
        [*common, "--pseudonymize", "email", "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert hidden.returncode == 0, hidden.stderr
    assert json.loads(hidden.stdout)["pii_left"] == {}
    assert not pd.read_csv(out)["email"].str.contains("@").any()
