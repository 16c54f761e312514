"""Degradations used for calibration and capture simulation: reproducible and doing what they say."""

from __future__ import annotations

import numpy as np

from liveness import augment
from tests.liveness.photos import photo


def test_document_scan_is_reproducible_small_and_overprinted() -> None:
    image = photo("obama_5_small.jpg")
    a = augment.document_scan(image, np.random.default_rng(5))
    b = augment.document_scan(image, np.random.default_rng(5))
    c = augment.document_scan(image, np.random.default_rng(6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert max(a.shape[:2]) == 208 and a.dtype == np.uint8
    # Print lifts the blacks and cuts contrast.
    assert a.min() > image.min() and a.std() < image.std()


def test_guilloche_covers_the_area_with_fine_lines() -> None:
    mask = augment.guilloche(120, 100, np.random.default_rng(1))
    assert mask.shape == (120, 100) and mask.min() >= 0.0 and mask.max() <= 1.0
    covered = float((mask > 0.5).mean())
    assert 0.1 < covered < 0.6  # lines, not a solid fill
    assert (mask[:60] > 0.5).any() and (mask[60:] > 0.5).any()


def test_live_degradations() -> None:
    image = photo("obama_4_480p.jpg")
    assert augment.downscale(image, 200).shape == (113, 200, 3)  # 480 × 200 / 853, rounded
    assert augment.downscale(image, 2000).shape == image.shape
    noisy = augment.noise(image, np.random.default_rng(0), 10.0)
    assert 5.0 < float(np.abs(noisy.astype(int) - image.astype(int)).mean()) < 12.0
    recompressed = augment.jpeg(image, 25)
    assert recompressed.shape == image.shape and not np.array_equal(recompressed, image)
