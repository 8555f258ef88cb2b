"""Look-back over 1,000 stored transcripts, with the database: the job's real code path, synthetic voices.

    PYTHONPATH=. .venv/bin/python bench/voices_lookback.py [--transcripts 1000]

A throwaway embedded PostgreSQL gets the real schema; one account gets N done transcripts of 3 speakers each
(random unit 256-d embeddings: Gaussian, so unrelated voices are far apart) and 20 people of 2 voiceprints; one speaker in ten is a
noisy copy of a person's voiceprint (so the job names something). Times ``webapp.services.people.look_back`` (read
every transcript's speakers, match, write the names, commit every 100), as the RQ job runs it.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--transcripts", type=int, default=1000)
    args = ap.parse_args()
    from flask import Flask

    from scriptorium.embedded import EmbeddedPostgres, free_port
    from webapp import migrate
    from webapp.extensions import db
    from webapp.models import Media, Person, Speaker, Transcript, User, Voiceprint
    from webapp.services import people
    from worker.recognise import Thresholds, recognise

    rng = np.random.default_rng(0)
    unit = lambda m: m / np.linalg.norm(m, axis=-1, keepdims=True)  # noqa: E731
    root = Path(tempfile.mkdtemp(prefix="scriptorium-voices-"))
    root.chmod(0o755)
    pg = EmbeddedPostgres(root / "pg", free_port(), database="bench", fast_unsafe=True)
    pg.start()
    try:
        migrate.upgrade(pg.url)
        app = Flask("bench")
        app.config["SQLALCHEMY_DATABASE_URI"] = pg.url
        db.init_app(app)
        with app.app_context():
            u = User(name="maria")
            db.session.add(u)
            db.session.flush()
            prints = unit(rng.standard_normal((20, 2, 256)))
            for i in range(20):
                db.session.add(Person(owner_id=u.id, name=f"person {i}",
                                      voiceprints=[Voiceprint(embedding=list(map(float, v))) for v in prints[i]]))
            for n in range(args.transcripts):
                m = Media(sha256=f"{n:064d}", size=1, original_name=f"{n}.wav", storage_key=f"k/{n}")
                t = Transcript(owner_id=u.id, media=m, title=f"meeting {n}", status="done", options={},
                               options_key=str(n))
                vecs = unit(rng.standard_normal((3, 256)))
                if n % 10 == 0:
                    vecs[0] = unit(prints[n % 20, 0] + 0.02 * rng.standard_normal(256))
                t.speakers = [Speaker(label=f"SPEAKER_0{k}", embedding=list(map(float, vecs[k]))) for k in range(3)]
                db.session.add(t)
            db.session.commit()
            t0 = time.perf_counter()
            out = people.look_back(u.id, recognise, Thresholds())
            took = time.perf_counter() - t0
        print(f"look-back over {out['transcripts']} transcripts x 3 speakers, 20 people x 2 voiceprints: "
              f"{took:.2f} s, {out['speakers_named']} speakers named or suggested")
    finally:
        pg.stop("immediate")


if __name__ == "__main__":
    main()
