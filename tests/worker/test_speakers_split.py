"""A segment split where the speaker changes keeps its text as the script writes it (issue 14): words apart in
English, characters together in Chinese and Japanese. Fast: plain data, no model."""
from __future__ import annotations

from worker.result import Segment, Word
from worker.speakers import _split


def segment(tokens: list[tuple[str, str]], language: str) -> Segment:
    """A segment of (word, speaker) pairs, 0.3 s a word."""
    words = [Word(w, i * 0.3, i * 0.3 + 0.25, 0.9, speaker) for i, (w, speaker) in enumerate(tokens)]
    return Segment(start=0.0, end=words[-1].end, text="".join(w for w, _ in tokens), words=words,
                   language=language, language_probability=0.97)


def test_english_parts_keep_spaces_between_words():
    parts = _split(segment([("Good", "A"), ("morning.", "A"), ("Hello", "B"), ("there.", "B")], "en"))
    assert [p.text for p in parts] == ["Good morning.", "Hello there."]
    assert [(p.start, p.end) for p in parts] == [(0.0, 0.55), (0.6, 1.15)]


def test_chinese_and_japanese_parts_have_no_spaces_put_in():
    zh = _split(segment([("今天", "A"), ("天气", "A"), ("很好。", "A"), ("我们", "B"), ("去", "B"), ("公园", "B"),
                         ("散步。", "B")], "zh"))
    assert [p.text for p in zh] == ["今天天气很好。", "我们去公园散步。"]
    ja = _split(segment([("明日", "A"), ("の", "A"), ("会議", "A"), ("は", "B"), ("東京", "B"), ("で", "B"),
                         ("行います。", "B")], "ja"))
    assert [p.text for p in ja] == ["明日の会議", "は東京で行います。"]
    assert all(p.language == "ja" and p.language_probability == 0.97 for p in ja)


def test_a_latin_word_inside_cjk_text_touches_no_space():
    parts = _split(segment([("我们", "A"), ("用", "A"), ("Python", "A"), ("写", "A"), ("代码。", "A"),
                            ("OK", "B"), ("好的。", "B")], "zh"))
    assert [p.text for p in parts] == ["我们用Python写代码。", "OK好的。"]


def test_one_speaker_keeps_the_segment_as_it_was():
    seg = segment([("Hello", "A"), ("world.", "A")], "en")
    assert _split(seg) == [seg]
