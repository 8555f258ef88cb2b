"""Subtitle cues from word timings, following the rules subtitle readers expect.

A cue holds at most ``max_lines`` lines of ``max_chars`` characters and lasts at most ``max_duration`` seconds.
A new cue starts at every speaker change and after a long pause. Within those limits the break points are
chosen by dynamic programming: breaking after a sentence end is cheapest, after a comma or clause next, and
anywhere else (always between words) dearest, while cues that could not be read at ``max_cps`` characters per
second, even after lengthening them into the following silence, are penalised so the text is split earlier.
Cues are then shown for at least ``min_duration`` where the next cue leaves room, never overlap, and their
two lines are balanced.

Scripts (issue 14): Chinese and Japanese have no spaces to break at; their words are joined without one, and a
run written in them is held to at most CJK_MAX_CHARS characters a line and CJK_MAX_CPS characters a second (the
limits broadcasters' guides give for them). Lines of right-to-left text (Arabic, Hebrew, Persian, Urdu, ...)
begin with a RIGHT-TO-LEFT MARK, so a player lays out a line that starts with a digit, a Latin name or a
speaker prefix right to left too.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from webapp.exports.words import Segment, Word, display_name, flatten_words, is_cjk, join

CJK_MAX_CHARS = 16  # characters a line for Chinese and Japanese
CJK_MAX_CPS = 9.0  # characters a second
RLM = "\u200f"
_RTL_RANGES = ((0x0590, 0x08FF), (0xFB1D, 0xFDFF), (0xFE70, 0xFEFF))

SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")
CLAUSE_END = (",", ";", ":", "–", "—", "、", "，")
CLOSERS = "\"')]}»”’"
PREFIX_STYLES = ("name", "dash")

# Costs, in "bad breaks": one more cue, a break that is not after punctuation, a second of missing reading time.
CUE_COST = 1.0
BREAK_COST = {"sentence": 0.0, "clause": 1.0, "word": 2.5}
PAUSE_DISCOUNT = 1.5  # per second of silence after the word (up to one second): pauses are natural breaks
UNREADABLE_COST = 4.0
LINE_BONUS = {"sentence": 24, "clause": 10, "word": 0}  # in characters of unevenness between the two lines
SHORT_COST = 1.0
SPARSE_COST = 0.5  # times (1 - fill)^2: spreads a long sentence evenly instead of leaving a stub at the end


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]
    words: tuple[str, ...]
    speaker: str | None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def rtl(self) -> bool:
        return is_rtl(self.text)

    @property
    def cps(self) -> float:
        """Reading speed: displayed characters (a line break counts as a space) per second."""
        chars = len(join(self.lines).replace(RLM, ""))
        return chars / self.duration if self.duration > 0 else math.inf


@dataclass(frozen=True)
class _Rules:
    max_chars: int
    max_lines: int
    max_ms: int
    min_ms: int
    max_cps: float

    def reading_ms(self, chars: int) -> int:
        return math.ceil(chars * 1000 / self.max_cps)

    def for_words(self, words: Sequence[Word]) -> "_Rules":
        """These rules, tightened for a run written mostly in Chinese or Japanese characters."""
        text = "".join(w.text for w in words)
        if sum(map(is_cjk, text)) * 2 <= len(text):
            return self
        return _Rules(min(self.max_chars, CJK_MAX_CHARS), self.max_lines, self.max_ms, self.min_ms,
                      min(self.max_cps, CJK_MAX_CPS))


def is_rtl(text: str) -> bool:
    """Whether most of the text's letters are of a right-to-left script."""
    letters = [c for c in text if c.isalpha()]
    rtl = sum(any(lo <= ord(c) <= hi for lo, hi in _RTL_RANGES) for c in letters)
    return bool(letters) and rtl * 2 > len(letters)


def build_cues(
    segments: Iterable[Segment],
    *,
    max_chars: int = 42,
    max_lines: int = 2,
    max_duration: float = 7.0,
    min_duration: float = 1.0,
    max_cps: float = 17.0,
    max_pause: float = 2.0,
    speaker_prefix: str | None = None,
    speaker_names: Mapping[str, str] | None = None,
    prefix_every_cue: bool = False,
) -> list[Cue]:
    """Subtitle cues for a transcript's segments.

    ``speaker_prefix`` is None, "name" ("[Alice] ...") or "dash" ("- ..."); the prefix marks the first cue of
    each speaker turn, or every cue with ``prefix_every_cue``. A single word too long for a line is kept whole.
    """
    if speaker_prefix not in (None, *PREFIX_STYLES):
        raise ValueError(f"speaker_prefix must be None or one of {PREFIX_STYLES}, not {speaker_prefix!r}")
    rules = _Rules(max_chars, max_lines, round(max_duration * 1000), round(min_duration * 1000), max_cps)
    runs = _runs(flatten_words(segments), round(max_pause * 1000))
    drafts: list[tuple[list[Word], str]] = []
    for n, (words, new_turn) in enumerate(runs):
        prefix = _prefix(speaker_prefix, words[0].speaker, speaker_names)
        first = prefix if new_turn or prefix_every_cue else ""
        rest = prefix if prefix_every_cue else ""
        limit = runs[n + 1][0][0].start_ms if n + 1 < len(runs) else None
        run_rules = rules.for_words(words)
        start = 0
        for end in _best_breaks(words, first, rest, limit, run_rules):
            drafts.append((words[start:end], first if start == 0 else rest, run_rules))
            start = end
    return _timed(drafts)


def wrap(tokens: Sequence[str], max_chars: int = 42, max_lines: int = 2) -> list[str] | None:
    """Fewest, most even lines of at most ``max_chars`` holding the tokens, or None if they do not fit."""
    joined = join(tokens)
    if len(joined) <= max_chars:
        return [joined]
    for count in range(2, max_lines + 1):
        best, best_cost = None, math.inf
        for cuts in combinations(range(1, len(tokens)), count - 1):
            bounds = (0, *cuts, len(tokens))
            lines = [join(tokens[a:b]) for a, b in zip(bounds, bounds[1:])]
            lengths = [len(line) for line in lines]
            if max(lengths) > max_chars:
                continue
            # Even lines first; a line ending on punctuation is worth a few characters of unevenness;
            # a shorter top line breaks ties (the "pyramid" subtitlers prefer).
            bonus = sum(LINE_BONUS[_kind(line)] for line in lines[:-1])
            cost = max(lengths) - min(lengths) - bonus + 0.1 * (lengths[0] > lengths[-1])
            if cost < best_cost:
                best, best_cost = lines, cost
        if best:
            return best
    return None


def _fits(tokens: Sequence[str], max_chars: int, max_lines: int) -> bool:
    """Whether the tokens fit the lines at all; filling each line greedily needs the fewest lines."""
    lines, width, prev = 1, 0, ""
    for token in tokens:
        gap = len(join([prev, token])) - len(prev) - len(token) if prev and width else 0
        if width + gap + len(token) <= max_chars:
            width += gap + len(token)
        else:
            lines, width = lines + 1, len(token)
        prev = token
    return lines <= max_lines and width <= max_chars


def _kind(text: str) -> str:
    """How good a place the end of this text is to break: "sentence", "clause" or "word"."""
    core = text.rstrip(CLOSERS)
    return "sentence" if core.endswith(SENTENCE_END) else "clause" if core.endswith(CLAUSE_END) else "word"


def _prefix(style: str | None, speaker: str | None, names: Mapping[str, str] | None) -> str:
    if style is None or speaker is None:
        return ""
    return f"[{display_name(speaker, names)}] " if style == "name" else "- "


def _runs(words: list[Word], max_pause_ms: int) -> list[tuple[list[Word], bool]]:
    """Split words where the speaker changes (a new turn), a long pause falls or the language changes: no cue
    spans any of them."""
    runs: list[tuple[list[Word], bool]] = []
    for word in words:
        last = runs[-1][0][-1] if runs else None
        if last is None or word.speaker != last.speaker:
            runs.append(([word], True))
        elif word.start_ms - last.end_ms > max_pause_ms or word.language != last.language:
            runs.append(([word], False))
        else:
            runs[-1][0].append(word)
    return runs


def _tokens(words: Sequence[Word], prefix: str) -> list[str]:
    """Words as displayed; the prefix is glued to the first word so it never stands alone on a line."""
    tokens = [w.text for w in words]
    tokens[0] = prefix + tokens[0]
    return tokens


def _best_breaks(words: list[Word], first: str, rest: str, limit: int | None, rules: _Rules) -> list[int]:
    """End indices of the cheapest split of one run into cues that fit on screen and in time."""
    n = len(words)
    best = [0.0] + [math.inf] * n
    back = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j - 1, -1, -1):
            tokens = _tokens(words[i:j], first if i == 0 else rest)
            too_long = words[j - 1].end_ms - words[i].start_ms > rules.max_ms
            if i < j - 1 and (too_long or not _fits(tokens, rules.max_chars, rules.max_lines)):
                break  # adding earlier words only makes the cue longer
            cost = best[i] + _cue_cost(words, i, j, len(join(tokens)), limit, rules)
            if cost < best[j]:
                best[j], back[j] = cost, i
    ends, j = [], n
    while j:
        ends.append(j)
        j = back[j]
    return ends[::-1]


def _cue_cost(words: list[Word], i: int, j: int, chars: int, limit: int | None, rules: _Rules) -> float:
    """What the cue words[i:j] costs: itself, the break after it, and any reading time it cannot be given."""
    start, spoken = words[i].start_ms, words[j - 1].end_ms - words[i].start_ms
    next_start = words[j].start_ms if j < len(words) else limit
    room = rules.max_ms if next_start is None else min(rules.max_ms, next_start - start)
    shown = max(spoken, min(max(rules.reading_ms(chars), rules.min_ms), room))
    fill = chars / (rules.max_chars * rules.max_lines)
    cost = CUE_COST + SPARSE_COST * (1 - min(fill, 1.0)) ** 2
    cost += UNREADABLE_COST * max(0, rules.reading_ms(chars) - shown) / 1000
    cost += SHORT_COST * max(0, rules.min_ms - shown) / 1000
    if j < len(words):
        gap = min(1000, max(0, words[j].start_ms - words[j - 1].end_ms))
        # May go below zero: a sentence end followed by a clear pause is worth a cue of its own.
        cost += BREAK_COST[_kind(words[j - 1].text)] - PAUSE_DISCOUNT * gap / 1000
    return cost


def _timed(drafts: list[tuple[list[Word], str, _Rules]]) -> list[Cue]:
    """Final cue times: spoken span, lengthened for reading and minimum display into free time, never overlapping."""
    cues: list[Cue] = []
    prev_end = 0
    for k, (words, prefix, rules) in enumerate(drafts):
        tokens = _tokens(words, prefix)
        lines = wrap(tokens, rules.max_chars, rules.max_lines) or [join(tokens)]
        start = max(words[0].start_ms, prev_end)
        spoken_end = min(max(words[-1].end_ms, start), start + rules.max_ms)
        wanted = start + max(rules.reading_ms(len(join(lines))), rules.min_ms)
        limit = start + rules.max_ms
        next_start = drafts[k + 1][0][0].start_ms if k + 1 < len(drafts) else None
        if next_start is not None and next_start > start:
            # Overlapping speech ends this cue where the next speaker's begins, rather than delaying theirs.
            limit = min(limit, next_start)
        end = max(min(max(spoken_end, wanted), limit), start + 1)
        if is_rtl(" ".join(lines)):
            lines = [RLM + line for line in lines]
        cues.append(Cue(start / 1000, end / 1000, tuple(lines), tuple(w.text for w in words), words[0].speaker))
        prev_end = end
    return cues
