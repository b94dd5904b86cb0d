"""Content-based recommendations: nearest neighbours over track descriptions.

A track's vector concatenates (each block L2-normalised, then weighted):

- its audio features (Spotify's names), standardised over the catalogue (z-scores;
  a missing value is the mean, i.e. 0), ``key`` and ``mode`` left out (they say
  little about taste);
- one-hot genres and one-hot artists.

A user's profile is the confidence-weighted mean of the vectors of the tracks
they like; scores are cosine similarities. Cold tracks (never played) are
scored like any other: this is what lets the hybrid model surface new releases.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from backbeat.errors import ValidationError
from backbeat.recommend._baselines import _check_n, _Fitted
from backbeat.recommend._catalogue import Catalogue
from backbeat.recommend._data import InteractionMatrix
from backbeat.recommend._index import top_k as _top
from backbeat.spotify import AUDIO_FEATURES

__all__ = ["ContentBased"]

# Pitch class and mode are not ordinal: genres and artists carry that similarity.
_NUMERIC = tuple(f for f in AUDIO_FEATURES if f not in ("key", "mode"))


def _normalise_rows(m: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.diags(1.0 / norms) @ m


class ContentBased(_Fitted):
    """Cosine nearest neighbours over audio features, genres and artists."""

    name = "content"

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        feature_weight: float = 1.0,
        genre_weight: float = 1.0,
        artist_weight: float = 0.5,
    ) -> None:
        if not len(catalogue):
            raise ValidationError(
                "validation.empty_catalogue", message="Content-based models need a catalogue."
            )
        self.catalogue = catalogue
        self.weights = (feature_weight, genre_weight, artist_weight)

    def fit(self, data: InteractionMatrix) -> ContentBased:
        items = tuple(dict.fromkeys([*self.catalogue.ids, *data.items]))
        self.data = data
        self._index(data, items)
        self.vectors = self._vectors(items)
        # profile = confidence-weighted mean of liked tracks' vectors
        weights = data.confidence.tocsr().astype(np.float64)
        rows = sparse.csr_matrix(
            (np.ones(len(data.items)), (self._from_data, np.arange(len(data.items)))),
            shape=(len(items), len(data.items)),
        )
        self._profiles = _normalise_rows((weights @ rows.T) @ self.vectors)
        self._popularity = np.zeros(len(items))
        self._popularity[self._from_data] = data.popularity()
        return self

    def _vectors(self, items: tuple[str, ...]) -> sparse.csr_matrix:
        n = len(items)
        numeric = np.zeros((n, len(_NUMERIC)))
        known = np.zeros((n, len(_NUMERIC)), dtype=bool)
        genres: dict[str, int] = {}
        artists: dict[str, int] = {}
        g_rows: list[int] = []
        g_cols: list[int] = []
        a_rows: list[int] = []
        a_cols: list[int] = []
        for i, item in enumerate(items):
            track = self.catalogue.tracks.get(item)
            if track is None:
                continue
            for j, name in enumerate(_NUMERIC):
                value = track.features.get(name)
                if value is not None:
                    numeric[i, j], known[i, j] = float(value), True
            for g in track.genres:
                g_rows.append(i)
                g_cols.append(genres.setdefault(g, len(genres)))
            for a in track.artists:
                a_rows.append(i)
                a_cols.append(artists.setdefault(a, len(artists)))
        counts = np.maximum(known.sum(axis=0), 1)
        mean = (numeric * known).sum(axis=0) / counts
        std = np.sqrt((((numeric - mean) * known) ** 2).sum(axis=0) / counts)
        std[std == 0] = 1.0
        z = np.where(known, (numeric - mean) / std, 0.0)
        w_feat, w_genre, w_artist = self.weights
        blocks = [
            _normalise_rows(sparse.csr_matrix(z)) * w_feat,
            _normalise_rows(
                sparse.csr_matrix(
                    (np.ones(len(g_rows)), (g_rows, g_cols)), shape=(n, max(1, len(genres)))
                )
            )
            * w_genre,
            _normalise_rows(
                sparse.csr_matrix(
                    (np.ones(len(a_rows)), (a_rows, a_cols)), shape=(n, max(1, len(artists)))
                )
            )
            * w_artist,
        ]
        return _normalise_rows(sparse.hstack(blocks).tocsr())

    def user_scores(self, user: str) -> np.ndarray:
        self._require()
        u = self._user_ix.get(user)
        if u is None or self._profiles[u].nnz == 0:
            return self._popularity  # nothing known about their taste yet
        return np.asarray((self.vectors @ self._profiles[u].T).todense()).ravel()

    def profile_scores(self, items: list[str]) -> np.ndarray:
        """Scores against the mean vector of ``items`` (seed tracks); unknown ids ignored."""
        self._require()
        rows = [self._item_ix[i] for i in items if i in self._item_ix]
        if not rows:
            return np.zeros(len(self.item_list))
        profile = _normalise_rows(sparse.csr_matrix(self.vectors[rows].mean(axis=0)))
        return np.asarray((self.vectors @ profile.T).todense()).ravel()

    def similar_items(self, item: str, n: int = 10) -> list[tuple[str, float]]:
        _check_n(n)
        self._require()
        i = self._item_position(item)
        scores = np.asarray((self.vectors @ self.vectors[i].T).todense()).ravel()
        top = _top(scores, n, np.array([i]))
        return [(self.item_list[j], float(scores[j])) for j in top]
