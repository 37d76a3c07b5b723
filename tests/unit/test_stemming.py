"""English words are stemmed by Snowball's English stemmer, the same way for documents and queries."""

from __future__ import annotations

import threading

import snowballstemmer

from knowledge.lexical import query_terms, tokens


def test_words_are_stemmed_as_snowball_english_stems_them() -> None:
    words = ["generally", "abbreviations", "running", "refunds", "shipped", "payment", "cancellation", "ies"]
    expected = snowballstemmer.stemmer("english").stemWords(words)
    assert tokens(" ".join(words)) == expected
    # derivational suffixes too, which the light Porter stemmer used before kept
    assert tokens("generally abbreviations") == ["general", "abbrevi"]


def test_a_query_matches_the_document_words_it_shares_a_stem_with() -> None:
    document = set(tokens("Refunds are generally processed within five working days."))
    assert set(query_terms("how long does a refund process take in general")) >= {"refund", "process", "general"}
    assert {"refund", "process", "general"} <= document


def test_threads_stem_side_by_side() -> None:
    from knowledge import lexical

    words = [f"{stem}{suffix}" for stem in ("connect", "general", "process", "deliver") for suffix in
             ("", "s", "ed", "ing", "ions", "ly")]
    expected = {w: snowballstemmer.stemmer("english").stemWord(w) for w in words}
    found: dict[str, str] = {}
    errors: list[BaseException] = []

    def stem_all() -> None:
        try:
            for _ in range(200):
                for word in words:
                    found[word] = lexical._stem(word)  # uncached: the stemmer object itself
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=stem_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and found == expected
