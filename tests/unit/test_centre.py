"""Centred similarity: the arithmetic on SQL's numbers, the small-tenant shrink, and the cache."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from knowledge.centre import PRIOR_CHUNKS, Centre, CentreCache


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def literal(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.9g}" for x in v) + "]"


def test_the_similarity_from_cosine_and_dot_products_equals_the_cosine_of_the_centred_vectors() -> None:
    rng = np.random.default_rng(0)
    common = unit(rng.normal(size=384)) * 3
    chunks = np.stack([unit(common + unit(rng.normal(size=384))) for _ in range(50)])
    query = unit(common + unit(rng.normal(size=384)))
    centre = Centre.from_mean(50, literal(chunks.mean(axis=0)))
    assert centre is not None
    mu = centre.vector
    for s in chunks[:5]:
        expected = float(unit(query - mu) @ unit(s - mu))
        got = centre.similarity(query, float(query @ s), float(s @ mu), float(np.linalg.norm(s)))
        assert got == pytest.approx(expected, abs=1e-6)


def test_queries_are_centred_towards_the_questions_mean_and_stored_vectors_at_theirs() -> None:
    rng = np.random.default_rng(2)
    common = unit(rng.normal(size=384)) * 3
    chunks = np.stack([unit(common + unit(rng.normal(size=384))) for _ in range(50)])
    asked = np.stack([unit(common + unit(rng.normal(size=384)) + 0.5) for _ in range(30)])
    query = unit(common + unit(rng.normal(size=384)))
    centre = Centre.from_mean(50, literal(chunks.mean(axis=0)), 30, literal(asked.mean(axis=0)), 0.75)
    assert centre is not None
    mu = chunks.mean(axis=0) * 50 / 52
    mu_q = mu + 0.75 * (asked.mean(axis=0) * 30 / 32 - mu)
    assert np.allclose(centre.vector, mu, atol=1e-6) and np.allclose(centre.for_queries, mu_q, atol=1e-6)
    for s in chunks[:5]:
        expected = float(unit(query - mu_q) @ unit(s - mu))
        got = centre.similarity(query, float(query @ s), float(s @ centre.vector), float(np.linalg.norm(s)),
                                float(s @ centre.for_queries))
        assert got == pytest.approx(expected, abs=1e-6)
    # Share 0, or no questions stored: both sides at the stored mean, as before.
    for plain in (Centre.from_mean(50, literal(chunks.mean(axis=0)), 30, literal(asked.mean(axis=0)), 0.0),
                  Centre.from_mean(50, literal(chunks.mean(axis=0)), 0, None, 0.75)):
        assert plain is not None and plain.query_vector is None
        assert np.array_equal(plain.for_queries, plain.vector)


def test_centring_spreads_scores_that_a_shared_component_compresses() -> None:
    rng = np.random.default_rng(1)
    common = unit(rng.normal(size=384)) * 3
    chunks = np.stack([unit(common + unit(rng.normal(size=384))) for _ in range(200)])
    query = unit(chunks[0] + 0.3 * unit(rng.normal(size=384)))
    centre = Centre.from_mean(200, literal(chunks.mean(axis=0)))
    assert centre is not None
    raw = chunks @ query
    centred = np.array([centre.similarity(query, float(c @ query), float(c @ centre.vector), 1.0) for c in chunks])
    assert int(np.argmax(centred)) == int(np.argmax(raw)) == 0
    # Unrelated chunks no longer look similar, so the best one stands further above the rest.
    assert np.median(raw) > 0.8 > 0.2 > abs(np.median(centred))
    assert centred[0] - np.median(centred) > 3 * (raw[0] - np.median(raw))


def test_a_small_tenant_is_centred_on_a_shrunk_mean_so_its_only_chunk_still_matches() -> None:
    chunk = unit(np.arange(1, 385, dtype=np.float64))
    centre = Centre.from_mean(1, literal(chunk))
    assert centre is not None
    assert np.allclose(centre.vector, chunk / (1 + PRIOR_CHUNKS), atol=1e-6)
    assert centre.similarity(chunk, 1.0, float(chunk @ centre.vector), 1.0) == pytest.approx(1.0)


def test_a_tenant_without_chunks_has_no_centre() -> None:
    assert Centre.from_mean(0, None) is None


def test_the_cache_serves_a_centre_at_its_version_only() -> None:
    cache = CentreCache()
    tenant = uuid.uuid4()
    centre = Centre.from_mean(3, literal(np.ones(384)))
    assert cache.lookup(tenant, 1) == (False, None)
    cache.store(tenant, 1, centre)
    assert cache.lookup(tenant, 1) == (True, centre)
    assert cache.lookup(tenant, 2) == (False, None)  # knowledge changed: computed again
    cache.store(tenant, 2, None)
    assert cache.lookup(tenant, 2) == (True, None)  # an empty tenant is remembered too


def test_cached_centres_expire_and_the_least_recent_tenant_is_evicted() -> None:
    cache = CentreCache(tenants=2, max_age=0.0)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    cache.store(a, None, None)
    assert cache.lookup(a, None) == (False, None)  # past the age limit (also without a version)
    cache = CentreCache(tenants=2)
    for tenant in (a, b, c):
        cache.store(tenant, 1, None)
    assert cache.lookup(a, 1) == (False, None)
    assert cache.lookup(c, 1) == (True, None)


def test_confidence_reads_centred_and_plain_scores_on_their_own_curves() -> None:
    from knowledge.confidence import confidence
    from knowledge.hits import Hit

    doc = uuid.uuid4()
    centred = Hit(1, doc, "a", "text", 0.65, 0.9, 0.0, centred=0.65)
    plain = Hit(1, doc, "a", "text", 0.9, 0.9, 0.0)
    assert confidence([centred]) > 0.9  # a clear centred match
    assert confidence([plain]) < 0.5  # a plain cosine of 0.9 is below that curve's centre
    assert confidence([]) == 0.0
