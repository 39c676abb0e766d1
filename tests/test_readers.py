"""Readers on real files: dates, speakers, paragraphs; and what bad files produce."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from pipeline.errors import InputError
from pipeline.readers import detect, iter_files, read_bytes, read_path
from pipeline.readers.common import decode, parse_date
from pipeline.segment import segment
from tests.conftest import CONF_0112, SEED_FILE, SEEDS, need_corpus, run_cli


def test_seed_is_a_plain_transcript_of_12_january_2026():
    r = read_path(SEED_FILE)
    assert r.format == "plain"
    (doc,) = r.documents
    assert doc.date == dt.date(2026, 1, 12)
    assert doc.lang == "en"
    stmts = segment(doc)
    assert len(stmts) == 23  # 25 lines: the date, 23 paragraphs, the trailing "Related:" link
    assert stmts[0].text.startswith("Following the statements made by President Trump")
    assert stmts[-1].text == "And there is not much more to report to you about this topic."
    assert not any(s.text.startswith("Related:") for s in stmts)


def test_stenographic_conference_of_12_january_2026():
    r = read_path(CONF_0112)
    assert r.format == "stenographic"
    (doc,) = r.documents
    assert doc.date == dt.date(2026, 1, 12)
    assert doc.source == "Mexican presidency" and doc.lang == "es"
    stmts = segment(doc)
    first = stmts[0]
    assert first.speaker_raw == "PRESIDENTA DE MÉXICO, CLAUDIA SHEINBAUM PARDO"
    assert first.speaker == "Claudia Sheinbaum Pardo" and first.role == "head of state"
    assert first.text == "¿Cómo están?"
    assert stmts[1].role == "press" and stmts[1].text == "Bien. Buen día."
    known = "Además, está la soberanía de México y la integridad territorial"
    assert any(known in s.text for s in stmts)
    assert [s.position for s in stmts] == list(range(len(stmts)))
    # Stage notes on their own line never become statements.
    assert not any(s.text.startswith("(") and s.text.endswith(")") for s in stmts)


def test_stage_notes_wrapped_in_dashes_are_not_statements():
    """gob.mx writes some notes inside dashes ("—(inaudible)—"): they are dropped like "(Inaudible)",
    but a line with words besides the note keeps them."""
    for name in ("2026-02-13", "2026-03-26", "2026-03-27", "2026-03-31", "2026-03-11"):
        (f,) = (SEEDS / "mananeras" / "2026").glob(f"{name}__*.txt")
        texts = [s.text for s in segment(read_path(f).documents[0])]
        # (a note with words around it, as "¿Del (inaudible)?" in 2026-03-31, stays)
        assert not [t for t in texts if not re.search(r"\w", re.sub(r"\(.*?\)", "", t))], f.name
    text = ("Versión estenográfica\nPresidencia de la República\n12 de enero de 2026\n---\n"
            "SECRETARIA DE CULTURA, CLAUDIA CURIEL DE ICAZA\n—(inaudible)—\n---\n"
            "PREGUNTA\n—(Inaudible)—\n—(inaudible) —.\n- (Inaudible)\n(Inaudible)-\n–(inaudible)–\n"
            "…(Inaudible)\n¿(inaudible)?\n(inaudible)\u200b\n—(Inaudible)— y además la seguridad\n---\n"
            "PRESIDENTA DE MÉXICO, CLAUDIA SHEINBAUM PARDO\n—No, el Faro. Es Faro, ¿no?—\n")
    stmts = segment(read_bytes(text.encode(), "conf.txt").documents[0])
    assert [(s.speaker_raw, s.text) for s in stmts] == [
        ("PREGUNTA", "—(Inaudible)— y además la seguridad"),
        ("PRESIDENTA DE MÉXICO, CLAUDIA SHEINBAUM PARDO", "—No, el Faro. Es Faro, ¿no?—")]


def test_all_spellings_of_the_president_are_one_speaker():
    need_corpus()
    from tests.conftest import CORPUS

    labels = set()
    for f in sorted((CORPUS / "mananeras" / "2025").glob("2025-0[1-3]*.txt")):
        for s in segment(read_path(f).documents[0]):
            if s.speaker == "Claudia Sheinbaum Pardo":
                labels.add(s.speaker_raw)
    assert {"PRESIDENTA DE MÉXICO, CLAUDIA SHEINBAUM PARDO", "PRESIDENTA CLAUDIA SHEINBAUM PARDO"} <= labels


def test_briefing_markdown_joins_wrapped_lines_and_attributes_turns():
    f = SEEDS / "whitehouse/briefings-statements/2025-01" / (
        "2025-01-29-press-briefing-by-press-secretary-karoline-leavitt.md")
    r = read_path(f)
    assert r.format == "briefing"
    (doc,) = r.documents
    assert doc.url.startswith("https://www.whitehouse.gov/")
    assert doc.date.isoformat() == f.name[:10]
    stmts = segment(doc)
    roles = {s.role for s in stmts}
    assert "press" in roles and "official" in roles
    assert all("\n" not in s.text for s in stmts)
    assert not any(s.text == "James S. Brady Press Briefing Room" for s in stmts)
    assert not any(s.text.startswith(("MS. LEAVITT:", "Q ")) for s in stmts)


def test_briefing_paragraphs_that_are_only_stage_notes_are_not_statements():
    """whitehouse.gov writes notes alone, several together, in emphasis or between dashes:
    "(Inaudible.) (Laughter.)", "*(The bill is signed.)*", "(Inaudible) —"; none is a statement,
    but a paragraph with words besides its notes keeps them."""
    f = SEEDS / "whitehouse/remarks/2025-02" / (
        "2025-02-18-interview-of-president-trump-and-elon-musk-by-sean-hannity-the-sean-hannity-show.md")
    texts = [s.text for s in segment(read_path(f).documents[0])]
    assert "(Inaudible) —" not in texts  # three times in the file, after "THE PRESIDENT:" and "MR. MUSK:"
    assert "— $7 million. (Inaudible) —" in texts
    notes = ["(Applause.)", "(Inaudible.) (Laughter.)", "(The bill is signed.) (Applause.) (Applause.)",
             "*(The executive order is signed.)*", "_(Applause.)_", "*(Technical difficulties.) *",
             "(Inaudible) —", "— (inaudible).", "— (inaudible)?", "— (inaudible) —", "(Inaudible)!",
             "[Senior administration official]?", "… (inaudible) …"]
    kept = ["I — (laughs).", "(Laughs.) I’m —", "Right. (Laughs.)", "M-L-G! (Laughs.)",
            "[Read the full story here](https://example.org/story)", "[Alabama](https://example.org/al)."]
    body = "\n\n".join(["MS. JEAN-PIERRE:  Good afternoon.", *notes[:6], "Q    (Inaudible.) (Laughter.)",
                         *notes[6:], *kept, "THE PRESIDENT:  (The Medal of Freedom is presented.) (Applause.)"])
    text = f"---\ndate: '2024-10-16'\ntitle: Briefing\n---\n\n{body}\n"
    stmts = segment(read_bytes(text.encode(), "briefing.md").documents[0])
    assert [(s.speaker_raw, s.text) for s in stmts] == [
        ("MS. JEAN-PIERRE", "Good afternoon."), *(("Q", t) for t in kept)]


def test_briefing_front_matter_title_with_escapes(tmp_path):
    text = ("---\ndate: '2024-10-16'\nsource_url: https://example.org/x\ntitle: \"Press Briefing by Press Secretary"
            " Karine\\_Jean-Pierre\\\n  \\ and Admiral Kirby\"\n---\n\nMS. JEAN-PIERRE:  Good afternoon.\nWe have\n"
            "news.\n\nQ    Thank you.\n\n11:56 A.M. EDT\n")
    r = read_bytes(text.encode(), "x.md")
    (doc,) = r.documents
    assert doc.title == "Press Briefing by Press Secretary Karine Jean-Pierre and Admiral Kirby"
    stmts = segment(doc)
    assert [(s.speaker, s.text) for s in stmts] == [("Karine Jean-Pierre", "Good afternoon. We have news."),
                                                     ("Press", "Thank you.")]


@pytest.mark.parametrize("name,title", [
    ("articles/2025-04/2025-04-29-icymi-celebrating-president-trumps-incredible-first-100-days.md",
     "ICYMI: Celebrating President Trump\u2019s Incredible First 100 Days"),  # "...Trump\\u2019s..."
    ("articles/2025-06/2025-06-06-mythbuster-theres-no-pork-in-the-one-big-beautiful-bill-only-wins.md",
     "MYTHBUSTER: There\u2019s No \u201cPork\u201d in the One Big Beautiful Bill \u2014 Only Wins"),
    ("articles/2025-05/2025-05-22-what-they-are-saying-one-big-beautiful-bill-clears-house.md",
     "WHAT THEY ARE SAYING: One, Big, Beautiful Bill Clears House"),  # single-quoted
    ("articles/2025-05/2025-05-29-law-enforcement-backs-the-one-big-beautiful-bill.md",
     "Law Enforcement Backs the One, Big, Beautiful Bill"),  # plain
])
def test_briefing_titles_are_decoded_from_their_yaml_quoting(name, title):
    (doc,) = read_path(SEEDS / "whitehouse" / name).documents
    assert doc.title == title


@pytest.mark.parametrize("yaml,title", [
    # Double-quoted: YAML's escapes are decoded; a backslash at a line's end joins the lines. The word
    # joiner (U+2060) is dropped like a BOM, NBSP (\_) and a tab are spaces in a title.
    (r'''title: "Biden-\u2060Harris and L\xF3pez Obrador \U0001F1F2\U0001F1FD \"2\/3\" a\\b\
  \ on COVID-\u206019\_Relief and
  the\tborder"''', 'Biden-Harris and López Obrador \U0001f1f2\U0001f1fd "2/3" a\\b on COVID-19 Relief and the border'),
    # Single-quoted: '' is a quote and a backslash is only a backslash; plain: no escapes either.
    (r"title: 'It''s \u2019 kept'", r"It's \u2019 kept"),
    ("title: Plain \\x41 words\n  on two lines", "Plain \\x41 words on two lines"),
])
def test_briefing_front_matter_title_quoting(yaml, title):
    text = f"---\ndate: '2021-08-03'\nsource_url: https://example.org/a\\u0062\n{yaml}\n---\n\nQ    Thanks.\n"
    (doc,) = read_bytes(text.encode(), "x.md").documents
    assert doc.title == title
    assert doc.url == "https://example.org/a\\u0062" and doc.date == dt.date(2021, 8, 3)


@pytest.mark.parametrize("line,expected", [
    ("MONDAY, JANUARY 12, 2026", dt.date(2026, 1, 12)),
    ("12 de enero de 2026", dt.date(2026, 1, 12)),
    ("1° de junio de 2023", dt.date(2023, 6, 1)),
    ("2025-03-04", dt.date(2025, 3, 4)),
    ("4 March 2025", dt.date(2025, 3, 4)),
    ("31 de febrero de 2025", None),
    ("no date here", None),
])
def test_dates(line, expected):
    assert parse_date(line) == expected


def test_records_jsonl_refuses_only_the_bad_line():
    data = (b'{"date": "2025-02-03", "text": "Tariffs on steel.", "speaker": "A", "source": "Senate"}\n'
            b'not json\n'
            b'{"date": "2025-02-03", "speaker": "B"}\n'
            b'{"date": "2025-02-04", "text": "Border talks.", "source": "Senate"}\n')
    r = read_bytes(data, "recs.jsonl")
    assert r.format == "jsonl"
    assert sorted(d.date.isoformat() for d in r.documents) == ["2025-02-03", "2025-02-04"]
    assert [(p.line, p.reason) for p in r.problems] == [(2, "not valid JSON (Expecting value at column 1)"),
                                                         (3, "missing text")]


def test_records_csv_with_missing_columns_is_refused():
    with pytest.raises(InputError, match="CSV header must name the columns date, text"):
        read_bytes(b"day,words\n2025-01-01,hello\n", "bad.csv")


def test_records_csv_extra_values_refuse_the_line():
    r = read_bytes(b"date,text\n2025-01-01,hello there\n2025-01-02,a,b\n", "x.csv")
    assert len(r.documents) == 1 and r.problems[0].line == 3


@pytest.mark.parametrize("data,reason", [
    (b"", "empty file"),
    (b"   \n\n", "empty file"),
    (b"\x00\x01\x02binary", "binary file"),
    (b"%PDF-1.7\n...", "PDF file"),
    (b"<!DOCTYPE html><html><body>hi</body></html>", "HTML page"),
    (b"Just some words\nwith no date at all\n", "unknown format"),
    (b"MONDAY, JANUARY 12, 2099\nA paragraph.\n", "in the future"),
    (b"Version\nPresidencia de la Republica\nsin fecha\n---\nPREGUNTA\nHola\n", "no date found"),
    (b"Conferencia de prensa\nPresidencia de la Republica\n12 de enero de 2026\n---\n", "no speaker blocks"),
])
def test_bad_files_are_refused_with_a_reason(data, reason):
    with pytest.raises(InputError, match=reason) as exc:
        read_bytes(data, "input/file.txt")
    assert "input/file.txt" in str(exc.value)


def test_latin1_bom_and_crlf_are_read():
    latin = "12 de enero de 2026\r\nLa soberanía de México.\r\n".encode("cp1252")
    (doc,) = read_bytes(latin, "latin.txt").documents
    assert segment(doc)[0].text == "La soberanía de México."
    bom = "\ufeffMONDAY, JANUARY 12, 2026\nWe talked about trade.\n".encode("utf-8")
    (doc,) = read_bytes(bom, "bom.txt").documents
    assert doc.date == dt.date(2026, 1, 12)
    assert decode(b"a\r\nb\rc", "x") == "a\nb\nc"


def test_format_override_and_detection():
    text = SEED_FILE.read_text()
    assert detect(text, "x.txt") == "plain"
    with pytest.raises(InputError, match="first line of a plain transcript must be a date"):
        read_bytes(CONF_0112.read_bytes(), "conf.txt", fmt="plain")


def test_iter_files_reports_missing_paths_and_survives_symlink_loops(tmp_path: Path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "doc.txt").write_text("MONDAY, JANUARY 12, 2026\nHello.\n")
    (tmp_path / "a" / "b" / "loop").symlink_to(tmp_path / "a")
    files, problems = iter_files([str(tmp_path / "a"), str(tmp_path / "missing")])
    assert [Path(f).name for f in files] == ["doc.txt"]
    reasons = [p.reason for p in problems]
    assert "path does not exist" in reasons
    assert any("symlink loop" in r for r in reasons)


def test_title_date_that_contradicts_the_header_is_noted_and_the_header_wins():
    text = ("Versión estenográfica de la conferencia de prensa matutina | Lunes 13 de enero de 2026\n"
            "Presidencia de la República\n12 de enero de 2026\n---\nPREGUNTA\nBuenos días.\n")
    r = read_bytes(text.encode(), "conf.txt")
    assert r.documents[0].date == dt.date(2026, 1, 12)
    assert r.notes == ["title says 2026-01-13 but the header says 2026-01-12; using the header date"]


def test_registry_gives_the_format_list_detection_and_dispatch():
    """Each registered reader is a --format choice, is detected from its own kind of file (by
    content alone, under a neutral name) and reads it into documents of its format."""
    from pipeline.readers import FORMATS, REGISTRY, SUFFIXES

    samples = {
        "plain": SEED_FILE.read_bytes(),
        "stenographic": CONF_0112.read_bytes(),
        "briefing": next((SEEDS / "whitehouse").rglob("*.md")).read_bytes(),
        # (a first line of over 80 characters: not taken for a plain transcript's date line)
        "jsonl": b'{"date": "2025-02-03", "text": "Tariffs on steel, said the chair.", "source": "Senate committee"}\n',
        "csv": b"date,text,source\n2025-02-03,Tariffs on steel.,Senate\n",
    }
    assert FORMATS == ("auto", *samples)
    assert [r.name for r in REGISTRY] == list(samples)
    assert SUFFIXES == {".txt", ".text", ".md", ".markdown", ".jsonl", ".ndjson", ".csv"}
    for name, data in samples.items():
        assert detect(data.decode("utf-8-sig"), "sample") == name
        r = read_bytes(data, "sample", fmt=name)
        assert r.format == name and r.documents
        assert {d.format for d in r.documents} == {"records" if name in ("jsonl", "csv") else name}
    assert detect("x", "a.ndjson") == "jsonl" and detect("x", "a.CSV") == "csv"


def test_records_bad_values_are_refused_or_noted_with_one_clear_reason(tmp_path):
    """QA item 10: a future date was 'in the future (unparseable date ...)'; a list was stored as its
    Python repr; a lang the tagger does not know was kept as it was, and the first record's lang
    was every record's."""
    recs = tmp_path / "in" / "r.jsonl"
    recs.parent.mkdir()
    recs.write_text("\n".join(json.dumps(x) for x in [
        {"date": "2026-01-20", "text": "The tariffs on steel imports will rise next month.", "lang": "xx"},
        {"date": "2099-01-01", "text": "Future words about the border."},
        {"date": "2026-01-20", "text": ["list"]},
        {"date": "2026-01-20", "text": "Los aranceles al acero subirán el próximo mes.", "lang": "ES"},
        {"date": "2026-01-20", "text": "Words.", "speaker": {"name": "x"}},
        {"date": "2026-01-21", "text": "Border security talks resume.", "lang": "en-US"},
    ]) + "\n")
    st_dir = tmp_path / "store"
    r = run_cli("run", "--input", str(recs), "--store", str(st_dir), "--no-snapshots", "--json")
    assert r.returncode == 3, r.stderr
    s = json.loads(r.stdout)
    assert [(x["line"], x["reason"]) for x in s["refused"]] == [
        (2, "date 2099-01-01 is in the future"), (3, "text must be a string, not a list"),
        (5, "speaker must be a string, not an object")]
    assert [x["note"] for x in s["notes"]] == [
        "lang 'xx' (line 1) is not one of en, es: the language was guessed from the text"]
    rows = [json.loads(x) for x in run_cli("export", "--store", str(st_dir), "--output", "-").stdout.splitlines()]
    assert sorted((x["lang"], x["text"][:9]) for x in rows) == [
        ("en", "Border se"), ("en", "The tarif"), ("es", "Los aranc")]
