"""Speaker labels: one normalised name per person, and a role.

Labels come in many spellings: "PRESIDENTA DE MÉXICO, CLAUDIA SHEINBAUM PARDO" and
"PRESIDENTA CLAUDIA SHEINBAUM PARDO" are one person; "SECRETARIO DE MARINA, JOSÉ RAFAEL
OJEDA DURÁN" and "JOSÉ RAFAEL OJEDA DURÁN" too. Roles: head of state, official, press, other.

Which rules apply depends on how the labels are written, the document's ``convention`` (set by the
reader that read it): White House briefing markdown labels people by surname and office ("MS.
PSAKI", "THE PRESIDENT"); everything else is read with the generic rules.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pipeline.readers.common import fold
from pipeline.stages import BRIEFING_ROOM

# Anonymous labels used for reporters and the audience.
_PRESS = re.compile(
    r"^(q|pregunta|interlocutor(a)?|intervencion( hombre| mujer)?|voz( de)? (mujer|hombre)|"
    r"reporter(o|a)?|periodista|asistente|participante|audience( member)?|question)$"
)
# Words that mark an office rather than a name.
_OFFICE = re.compile(
    r"\b(secretari[oa]|subsecretari[oa]|director(a)?|coordinador(a)?|gobernador(a)?|fiscal|"
    r"procurador(a)?|titular|jef[ea]|vocero|comisionad[oa]|presidente|presidenta|senador(a)?|"
    r"diputad[oa]|embajador(a)?|consejer[oa]|general|almirante|comandante|canciller|alcalde|"
    r"administrador(a)?|encargad[oa]|representante|investigador(a)?|doctor(a)?|de la|del|de|y|"
    r"comunicaciones|transportes|salud|marina|defensa|nacional|seguridad|economia|educacion|publica|"
    r"bienestar|energia|cultura|gobernacion|hacienda|imss|issste|pemex|cfe|instituto|mexicano|"
    r"infraestructura|relaciones|exteriores|agricultura|trabajo|mexico|republica|gobierno|estado)\b"
)
_HEADS = {
    "andres manuel lopez obrador": "Andrés Manuel López Obrador",
    "claudia sheinbaum pardo": "Claudia Sheinbaum Pardo",
}
# White House speakers are labelled by surname; the people behind the most frequent labels.
_WH_NAMES = {
    "jean-pierre": "Karine Jean-Pierre", "psaki": "Jen Psaki", "kirby": "John Kirby",
    "sullivan": "Jake Sullivan", "leavitt": "Karoline Leavitt", "zients": "Jeff Zients",
    "deese": "Brian Deese", "mayorkas": "Alejandro Mayorkas", "dalton": "Kate Dalton",
    "biden": "Joe Biden", "trump": "Donald J. Trump", "harris": "Kamala Harris", "vance": "JD Vance",
}
# 'THE PRESIDENT' is a different person before and after this day.
_TRUMP_SECOND_TERM = "2025-01-20"
_HONORIFIC = re.compile(r"^(mr|ms|mrs|dr|the)\.? ")
_SMALL = {"de", "del", "la", "las", "los", "y", "e", "of", "the"}


def _title_case(name: str) -> str:
    words = name.lower().split()
    out = []
    for i, w in enumerate(words):
        if w in _SMALL and i:
            out.append(w)
        else:
            out.append("-".join(p[:1].upper() + p[1:] for p in w.split("-")))
    return " ".join(out)


def _name_part(label: str) -> str:
    """The part of 'OFFICE, NAME' or 'NAME, OFFICE' that is the person's name."""
    parts = [p.strip() for p in label.split(",") if p.strip()]
    if len(parts) == 1:
        return parts[0]
    scored = sorted(parts, key=lambda p: len(_OFFICE.findall(fold(p))))
    return scored[0]


@lru_cache(maxsize=65536)
def identify(label: str, convention: str = "", date: str = "") -> tuple[str, str]:
    """Return (normalised speaker, role) for a raw label written in ``convention`` (a document's,
    ``pipeline.stages.BRIEFING_ROOM`` or generic); ``date`` (ISO) tells presidents apart."""
    briefing = convention == BRIEFING_ROOM
    raw = label.strip().rstrip(":").strip()
    f = fold(raw)
    if not raw:
        if briefing:
            return "White House", "official"
        return "", "other"
    if _PRESS.match(f):
        return "Press", "press"
    for key, name in _HEADS.items():
        if key in f:
            return name, "head of state"
    if briefing:
        if f in ("the president", "president biden", "president trump"):
            if f == "the president":
                f = "president trump" if date >= _TRUMP_SECOND_TERM else "president biden"
            return _WH_NAMES[f.split()[-1]], "head of state"
        if f in ("the vice president", "vice president harris", "vice president vance"):
            return ("JD Vance" if date >= _TRUMP_SECOND_TERM else "Kamala Harris"), "official"
        surname = _HONORIFIC.sub("", f).split()[-1] if _HONORIFIC.sub("", f).split() else f
        if surname in _WH_NAMES and re.match(r"^(mr|ms|mrs|dr|secretary)\b", f):
            return _WH_NAMES[surname], "official"
    name = _name_part(raw)
    # Strip a leading office word left on the name ("PRESIDENTE ANDRÉS ..." is handled above).
    name = re.sub(r"^(PRESIDENTE|PRESIDENTA|SECRETARIO|SECRETARIA|GOBERNADOR|GOBERNADORA)\s+", "", name)
    clean = _title_case(name)
    if briefing or re.match(r"^(mr|ms|mrs|dr|secretary|ambassador|admiral|general)\b", f):
        clean = _title_case(_HONORIFIC.sub("", fold(name)) if _HONORIFIC.match(fold(name)) else name)
        if re.search(r"moderator|operator|aide", f):
            return clean, "other"
        return clean, "official"
    if re.search(r"moderador|locutor|conductor", f):
        return clean, "other"
    # In the conferences every other named speaker is a member of the government or a guest it
    # invited to report (governors, directors); they speak for the government.
    return clean, "official"
