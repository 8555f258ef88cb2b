"""Exports: subtitles a viewer can read (line, length, speed, speaker rules), and text/JSON that lose nothing."""
from __future__ import annotations

import ast
import io
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import srt
import webvtt

from webapp.exports import FORMATS, build_cues, export, to_json, to_srt, to_txt, to_vtt

NAMES = {"SPEAKER_00": "Alice", "SPEAKER_01": "Bob"}
LONG_RUN_ON = (
    "and then we walked all the way down the old river road past the mill and the bakery and the little school "
    "where my grandmother used to teach before the war and nobody in the village could remember when the bridge "
    "had last been painted or who had paid for it"
)
# (speaker, words per second, sentence): normal speech, a run-on sentence with no punctuation, fast speech.
SCRIPT = [
    ("SPEAKER_00", 2.6, "Good morning, everyone. Thanks for joining the call today."),
    ("SPEAKER_00", 2.6, "We have a lot to cover, so let's get started with the quarterly numbers."),
    ("SPEAKER_01", 2.8, "Sure. Before we do that, can I ask a quick question about the agenda?"),
    ("SPEAKER_00", 2.6, "Of course, go ahead."),
    ("SPEAKER_01", 3.0, LONG_RUN_ON),
    ("SPEAKER_00", 2.5, "Right. That is, well, quite a story! Did the council ever fix it?"),
    ("SPEAKER_01", 5.5, "No they never did they just kept saying next year next year next year and then the money "
                        "was gone and everybody forgot about it entirely, honestly."),
    ("SPEAKER_00", 2.6, "Okay. Let's move on to the numbers, then."),
    ("SPEAKER_00", 2.7, "Revenue grew by twelve percent compared to last quarter, which is better than we planned. "
                        "Costs were flat. The new office opened on time, and hiring is on track."),
    ("SPEAKER_01", 2.8, "That's great news! What about the delayed shipments we talked about in March?"),
]


def make_segments(script=SCRIPT, pause: float = 0.7) -> list[dict]:
    """Segments with word timings as WhisperX produces them: one segment per sentence, a pause between."""
    segments, t = [], 0.5
    for speaker, rate, sentence in script:
        words, start = [], t
        for token in sentence.split():
            span = 1 / rate
            words.append({"word": token, "start": round(t, 3), "end": round(t + span * 0.85, 3),
                          "score": 0.9, "speaker": speaker})
            t += span
        segments.append({"start": round(start, 3), "end": words[-1]["end"], "speaker": speaker,
                         "text": " " + sentence, "words": words})
        t += pause
    return segments


def all_words(segments) -> list[str]:
    return [w["word"] for seg in segments for w in seg["words"]]


def strip_prefix(text: str) -> str:
    return re.sub(r"^(\[[^\]]*\] |- )", "", text)


@pytest.fixture(params=[{}, {"speaker_prefix": "name", "speaker_names": NAMES}, {"speaker_prefix": "dash"}],
                ids=["plain", "name-prefix", "dash-prefix"])
def cue_options(request):
    return request.param


def test_transcript_is_realistic():
    segments = make_segments()
    assert 150 <= len(all_words(segments)) <= 250


def test_cues_obey_line_length_line_count_and_duration(cue_options):
    cues = build_cues(make_segments(), **cue_options)
    for cue in cues:
        assert 1 <= len(cue.lines) <= 2, cue
        assert all(len(line) <= 42 for line in cue.lines), cue
        assert cue.duration <= 7.0 + 1e-9, cue


def test_cues_are_in_order_and_never_overlap(cue_options):
    cues = build_cues(make_segments(), **cue_options)
    for prev, cue in zip(cues, cues[1:]):
        assert prev.start < prev.end <= cue.start < cue.end


def test_no_word_is_lost_or_duplicated(cue_options):
    segments = make_segments()
    cues = build_cues(segments, **cue_options)
    assert [w for cue in cues for w in cue.words] == all_words(segments)
    shown = " ".join(strip_prefix(" ".join(cue.lines)) for cue in cues)
    assert shown.split() == all_words(segments)


def test_never_breaks_inside_a_word():
    segments = make_segments()
    words = set(all_words(segments))
    for cue in build_cues(segments):
        assert all(token in words for line in cue.lines for token in line.split())


def test_reading_speed_is_capped_wherever_the_gap_allows():
    cues = build_cues(make_segments())
    for cue, nxt in zip(cues, cues[1:] + [None]):
        extended_to_the_limit = (nxt is not None and cue.end == nxt.start) or cue.duration >= 7.0 - 1e-9
        assert cue.cps <= 17 + 1e-9 or extended_to_the_limit, cue


def test_fast_sentence_before_a_pause_is_extended_into_the_pause():
    # 48 characters spoken in 1.2 s (40 chars/s), then 3 s of silence: the cue stays up long enough to read.
    segments = make_segments([("SPEAKER_00", 7.5, "Honestly I could not believe how fast it all went."),
                              ("SPEAKER_01", 2.5, "Me neither.")], pause=3.0)
    first = build_cues(segments)[0]
    assert first.words[-1] == "went."
    assert first.cps <= 17
    assert first.end > segments[0]["end"]


def test_minimum_display_where_there_is_room_but_no_overlap():
    segments = make_segments([("SPEAKER_00", 3, "Yes."), ("SPEAKER_01", 3, "No."), ("SPEAKER_00", 3, "Maybe.")],
                             pause=2.0)
    cues = build_cues(segments)
    assert [c.words for c in cues] == [("Yes.",), ("No.",), ("Maybe.",)]
    assert all(c.duration >= 1.0 for c in cues)
    tight = make_segments([("SPEAKER_00", 3, "Yes."), ("SPEAKER_01", 3, "No.")], pause=0.1)
    first, second = build_cues(tight)
    assert first.end == second.start < 1.0 + first.start


def test_speaker_change_starts_a_new_cue():
    segments = make_segments()
    cues = build_cues(segments)
    speakers = [w["speaker"] for seg in segments for w in seg["words"]]
    idx = 0
    for cue in cues:
        assert len(set(speakers[idx: idx + len(cue.words)])) == 1, cue
        assert cue.speaker == speakers[idx]
        idx += len(cue.words)


def test_breaks_prefer_sentence_ends_then_commas():
    segments = make_segments()
    cues = build_cues(segments)
    # Every sentence followed by a pause (each segment here) ends a cue...
    cue_ends, n = set(), 0
    for cue in cues:
        n += len(cue.words)
        cue_ends.add(n)
    segment_ends, n = set(), 0
    for seg in segments:
        n += len(seg["words"])
        segment_ends.add(n)
    assert segment_ends <= cue_ends
    # ...and where a sentence must be split, punctuation is chosen over a bare word boundary.
    revenue = next(i for i, c in enumerate(cues) if c.words[0] == "Revenue")
    assert [c.words[-1] for c in cues[revenue:revenue + 3]] == ["quarter,", "flat.", "track."]
    # Within a cue, the line break falls after a sentence end when one is near the middle.
    assert build_cues(segments, speaker_prefix="name", speaker_names=NAMES)[11].lines == (
        "[Alice] Okay.", "Let's move on to the numbers, then.")


def test_long_unpunctuated_sentence_is_split_into_balanced_lines():
    segments = make_segments([("SPEAKER_01", 3.0, LONG_RUN_ON)])
    cues = build_cues(segments)
    assert len(cues) >= 2
    longest_word = max(len(w) for w in LONG_RUN_ON.split())
    for cue in cues:
        if len(cue.lines) == 2:
            assert abs(len(cue.lines[0]) - len(cue.lines[1])) <= longest_word + 1, cue.lines
    assert [w for c in cues for w in c.words] == LONG_RUN_ON.split()


def test_speaker_prefixes_mark_each_turn():
    segments = make_segments()
    named = build_cues(segments, speaker_prefix="name", speaker_names=NAMES)
    turn_starts = [c for prev, c in zip([None] + named, named) if prev is None or prev.speaker != c.speaker]
    assert all(c.lines[0].startswith(f"[{NAMES[c.speaker]}] ") for c in turn_starts)
    assert sum(c.lines[0].startswith("[") for c in named) == len(turn_starts)
    every = build_cues(segments, speaker_prefix="dash", prefix_every_cue=True)
    assert all(c.lines[0].startswith("- ") for c in every)
    assert not any(c.lines[0].startswith(("[", "- ")) for c in build_cues(segments))
    with pytest.raises(ValueError):
        build_cues(segments, speaker_prefix="bold")


def test_segments_without_words_fall_back_to_text_and_segment_time():
    segments = [{"start": 1.0, "end": 4.0, "speaker": None, "text": " Hello there, how are you doing today?",
                 "words": []},
                {"start": 5.0, "end": 6.0, "speaker": None, "text": "Fine.", "words": []}]
    cues = build_cues(segments)
    assert [w for c in cues for w in c.words] == "Hello there, how are you doing today? Fine.".split()
    assert cues[0].start == 1.0 and cues[0].end >= 4.0 and cues[-1].start >= 5.0


def test_untimed_words_share_the_gap_between_neighbours():
    seg = {"start": 0.0, "end": 3.0, "speaker": "SPEAKER_00", "text": "It costs 25 dollars.",
           "words": [{"word": "It", "start": 0.0, "end": 0.2, "score": 0.9},
                     {"word": "costs", "start": 0.3, "end": 0.6, "score": 0.9},
                     {"word": "25"},
                     {"word": "dollars.", "start": 1.5, "end": 2.0, "score": 0.8}]}
    (cue,) = build_cues([seg])
    assert cue.words == ("It", "costs", "25", "dollars.")
    assert cue.start == 0.0 and cue.end >= 2.0


def test_srt_parses_and_matches_the_cues():
    segments = make_segments()
    text = to_srt(segments, speaker_prefix="name", speaker_names=NAMES)
    subs = list(srt.parse(text))
    cues = build_cues(segments, speaker_prefix="name", speaker_names=NAMES)
    assert len(subs) == len(cues)
    assert [s.index for s in subs] == list(range(1, len(subs) + 1))
    for sub, cue in zip(subs, cues):
        assert sub.content == cue.text
        assert sub.start == timedelta(milliseconds=round(cue.start * 1000))
        assert sub.end - sub.start <= timedelta(seconds=7)
    for prev, sub in zip(subs, subs[1:]):
        assert prev.end <= sub.start
    assert "[Alice] Good morning, everyone." in text
    words = " ".join(strip_prefix(s.content.replace("\n", " ")) for s in subs).split()
    assert words == all_words(segments)


def test_vtt_parses_with_webvtt():
    segments = make_segments()
    text = to_vtt(segments)
    assert text.startswith("WEBVTT\n\n00:00:00.500 --> ")
    captions = webvtt.from_string(text).captions
    assert len(captions) == len(build_cues(segments))
    assert all(len(line) <= 42 for c in captions for line in c.text.splitlines())
    assert " ".join(c.text.replace("\n", " ") for c in captions).split() == all_words(segments)
    for prev, cap in zip(captions, captions[1:]):
        assert prev.end_in_seconds <= cap.start_in_seconds
    assert len(webvtt.read_buffer(io.StringIO(text)).captions) == len(captions)


def test_vtt_voice_tags_and_escaping():
    segments = make_segments([("SPEAKER_00", 2.5, "Salt & pepper <please>.")])
    text = to_vtt(segments, speaker_names=NAMES, voice_tags=True)
    assert "<v Alice>Salt &amp; pepper &lt;please&gt;." in text
    (caption,) = webvtt.from_string(text).captions
    assert caption.voice == "Alice"


def test_txt_paragraph_per_speaker_turn():
    segments = make_segments()
    plain = to_txt(segments, with_speakers=False)
    paragraphs = plain.strip().split("\n\n")
    assert len(paragraphs) == 8  # ten segments; two pairs by the same speaker make one turn each
    assert paragraphs[0] == "Good morning, everyone. Thanks for joining the call today. We have a lot to cover, " \
                            "so let's get started with the quarterly numbers."
    named = to_txt(segments, speaker_names=NAMES, with_timestamps=True).strip().split("\n\n")
    assert named[0].startswith("[00:00:00] Alice: Good morning")
    assert re.match(r"\[00:00:\d\d\] Bob: Sure\. Before", named[1])
    assert all(re.match(r"\[\d\d:\d\d:\d\d\] (Alice|Bob): ", p) for p in named)
    unnamed = to_txt(segments).split("\n\n")[0]
    assert unnamed.startswith("SPEAKER_00: Good morning")
    assert to_txt([]) == ""


def test_txt_timestamps_past_an_hour():
    seg = {"start": 3722.4, "end": 3724.0, "speaker": None, "text": "Late remark.", "words": []}
    assert to_txt([seg], with_timestamps=True) == "[01:02:02] Late remark.\n"


def test_json_round_trips_with_metadata_in_stable_order():
    segments = make_segments()
    text = to_json(segments, speaker_names=NAMES, title="Weekly call", language="en", duration=95.0)
    doc = json.loads(text)
    assert list(doc) == ["title", "language", "duration", "speakers", "segments"]
    assert (doc["title"], doc["language"], doc["duration"]) == ("Weekly call", "en", 95.0)
    assert doc["speakers"] == {"SPEAKER_00": "Alice", "SPEAKER_01": "Bob"}
    assert doc["segments"] == [s | {"language": None, "language_probability": None} for s in segments]
    assert list(doc["segments"][0]) == ["start", "end", "speaker", "text", "language", "language_probability", "words"]
    assert list(doc["segments"][0]["words"][0]) == ["word", "start", "end", "score", "speaker"]
    assert to_json(doc["segments"], speaker_names=NAMES, title="Weekly call", language="en", duration=95.0) == text


def test_json_carries_each_segments_language_and_its_probability():
    segments = make_segments()[:3]
    segments[0] |= {"language": "en", "language_probability": 0.98}
    segments[1] |= {"language": "de", "language_probability": 0.61}
    segments[2] |= {"language": "en", "language_probability": None}  # given, not detected
    doc = json.loads(to_json(segments, language="en"))
    assert [(s["language"], s["language_probability"]) for s in doc["segments"]] == \
        [("en", 0.98), ("de", 0.61), ("en", None)]
    assert doc["segments"] == segments


def test_json_writes_nan_scores_as_null():
    seg = {"start": 0.0, "end": 1.0, "speaker": None, "text": "Hi.",
           "words": [{"word": "Hi.", "start": 0.0, "end": 0.5, "score": float("nan"), "speaker": None}]}
    doc = json.loads(to_json([seg]))
    assert doc["segments"][0]["words"][0]["score"] is None
    assert doc["duration"] == 1.0


def test_export_dispatches_by_format_and_accepts_metadata_everywhere():
    segments = make_segments()
    assert set(FORMATS) == {"txt", "srt", "vtt", "json"}
    assert FORMATS["vtt"].mimetype.startswith("text/vtt") and FORMATS["srt"].extension == "srt"
    for fmt in FORMATS:
        out = export(fmt, segments, speaker_names=NAMES, title="Weekly call", language="en", duration=95.0)
        assert isinstance(out, str) and out
    assert export("srt", segments, speaker_prefix="name", speaker_names=NAMES) == \
        to_srt(segments, speaker_prefix="name", speaker_names=NAMES)
    assert json.loads(export("json", segments, title="T"))["title"] == "T"
    with pytest.raises(ValueError, match="unknown export format"):
        export("docx", segments)


def test_empty_transcript_exports_cleanly():
    assert build_cues([]) == []
    assert list(srt.parse(to_srt([]))) == []
    assert to_vtt([]).startswith("WEBVTT")
    assert json.loads(to_json([]))["segments"] == []


def test_exports_package_stays_pure():
    """The CLI, web and API all import it: no Flask, database or speech stack inside."""
    banned = {"flask", "sqlalchemy", "torch", "whisperx", "rq", "redis"}
    package = Path(__file__).resolve().parents[2] / "webapp" / "exports"
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not {n.split(".")[0] for n in names} & banned, module.name


def test_overlapping_speech_still_gives_ordered_cues():
    segments = [
        {"start": 0.0, "end": 3.0, "speaker": "SPEAKER_00", "text": "Hello there.",
         "words": [{"word": "Hello", "start": 0.0, "end": 1.0, "score": 0.9, "speaker": "SPEAKER_00"},
                   {"word": "there.", "start": 1.0, "end": 3.0, "score": 0.9, "speaker": "SPEAKER_00"}]},
        {"start": 2.0, "end": 2.5, "speaker": "SPEAKER_01", "text": "Hi!",
         "words": [{"word": "Hi!", "start": 2.0, "end": 2.5, "score": 0.9, "speaker": "SPEAKER_01"}]},
    ]
    first, second = build_cues(segments)
    assert first.end == second.start == 2.0
    assert list(srt.parse(to_srt(segments)))[1].content == "Hi!"


# Scripts (issue 14): Chinese/Japanese have no spaces to break at; Arabic/Hebrew are read right to left.
ZH_WORDS = ["今天", "天气", "很", "好，", "我们", "去", "公园", "散步。", "明天", "我们", "要", "去", "北京", "参观",
            "博物馆，", "然后", "在", "附近", "的", "餐厅", "吃", "晚饭。", "大家", "都", "很", "高兴。"]


def _zh_segments(words_per_second: float = 3.0) -> list[dict]:
    step = 1 / words_per_second
    words = [{"word": w, "start": i * step, "end": i * step + step * 0.9} for i, w in enumerate(ZH_WORDS)]
    return [{"start": 0.0, "end": words[-1]["end"], "speaker": None, "text": "".join(ZH_WORDS), "words": words}]


def test_cjk_cues_keep_character_limits_and_join_without_spaces():
    from webapp.exports.cues import CJK_MAX_CHARS, CJK_MAX_CPS

    cues = build_cues(_zh_segments())
    assert len(cues) >= 2
    for cue in cues:
        assert " " not in cue.text  # no space put between Chinese words
        assert all(len(line) <= CJK_MAX_CHARS for line in cue.lines), cue.lines
        assert len(cue.lines) <= 2
    assert "".join("".join(c.lines) for c in cues) == "".join(ZH_WORDS)  # nothing lost or doubled
    # slow enough to read at CJK speed (3 words, ~5 characters a second, leaves the room)
    assert all(c.cps <= CJK_MAX_CPS + 0.01 for c in cues), [(c.text, c.cps) for c in cues]
    # a segment with no word times (one long "word", as text.split() sees Chinese) is still cut to the limits
    untimed = [{"start": 0.0, "end": 9.0, "speaker": None, "text": "".join(ZH_WORDS), "words": []}]
    for cue in build_cues(untimed):
        assert all(len(line) <= CJK_MAX_CHARS for line in cue.lines), cue.lines
    vtt = to_vtt(_zh_segments())
    assert all(len(line) <= CJK_MAX_CHARS for line in vtt.split("\n\n", 1)[1].splitlines()
               if line and "-->" not in line)


def test_english_cues_keep_their_own_limits_beside_cjk():
    cues = build_cues([{"start": 0.0, "end": 6.0, "speaker": None, "text": LONG_RUN_ON[:120], "words": []}])
    assert max(len(line) for c in cues for line in c.lines) > 16  # Latin text still uses its 42 characters


def test_rtl_cues_are_marked_for_players():
    segs = [{"start": 0.0, "end": 3.0, "speaker": "SPEAKER_00", "text": "2024 مرحبا بكم في الاجتماع اليوم",
             "language": "ar", "words": []},
            {"start": 3.5, "end": 6.0, "speaker": "SPEAKER_00", "text": "שלום לכולם", "language": "he", "words": []},
            {"start": 6.5, "end": 9.0, "speaker": "SPEAKER_00", "text": "And now in English.", "language": "en",
             "words": []}]
    vtt = to_vtt(segs, speaker_prefix="name", speaker_names=NAMES)
    cues = list(webvtt.from_buffer(io.StringIO(vtt)))
    assert cues[0].text.startswith("\u200f[Alice]") and cues[1].text.startswith("\u200f")
    assert "\u200f" not in cues[2].text
    assert all(line.startswith("\u200f") for c in cues[:2] for line in c.text.splitlines())
    assert srt.parse(to_srt(segs)).__next__().content.startswith("\u200f")  # SRT gets the same mark
