"""How much of a text GloVe 6B knows: English benchmark data against non-English samples.

The share is :func:`modeling.training.open_vocabulary.token_coverage` (word tokens, i.e. tokens with a
letter, found as written or lower-cased), the number ``--pretrained_embeddings auto`` compares with
``MIN_TOKEN_COVERAGE``. English: the train splits of the shared data (first 2,000 texts). Other
languages: short news- and review-like sentences written for this check (below), since no
non-English corpus is on this machine; they are everyday vocabulary, which GloVe's English
Wikipedia knows more of than of rarer words, so they overstate coverage, if anything.

    python bench/bench_vector_coverage.py
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as `python bench/x.py`: make `bench.*` and `modeling` importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import time

import pandas as pd

from bench.bench_data import materialize
from bench.common import write_json
from modeling.training.open_vocabulary import MIN_TOKEN_COVERAGE, token_coverage

SAMPLES = {
    "German": [
        "Die Regierung hat am Dienstag einen neuen Haushalt für das kommende Jahr vorgestellt.",
        "Der Film ist zu lang, aber die Schauspieler spielen hervorragend und die Musik ist wunderschön.",
        "Nach dem Unwetter blieben viele Straßen in der Stadt mehrere Stunden gesperrt.",
        "Ich habe das Buch in einer Nacht gelesen, so spannend war die Geschichte.",
        "Die Verhandlungen zwischen den Gewerkschaften und den Arbeitgebern wurden ohne Ergebnis abgebrochen.",
        "Das Essen war kalt, der Kellner unfreundlich und die Rechnung viel zu hoch.",
        "Wissenschaftler warnen vor den Folgen des Klimawandels für die Landwirtschaft.",
        "Warum hat der Minister seine Entscheidung nicht früher bekannt gegeben?",
    ],
    "French": [
        "Le gouvernement a présenté mardi un nouveau budget pour l'année prochaine.",
        "Le film est trop long, mais les acteurs jouent très bien et la musique est magnifique.",
        "Après la tempête, de nombreuses routes de la ville sont restées fermées pendant plusieurs heures.",
        "J'ai lu ce livre en une nuit, tellement l'histoire était passionnante.",
        "Les négociations entre les syndicats et le patronat ont été rompues sans accord.",
        "Le repas était froid, le serveur désagréable et l'addition beaucoup trop chère.",
        "Les scientifiques mettent en garde contre les conséquences du changement climatique pour l'agriculture.",
        "Pourquoi le ministre n'a-t-il pas annoncé sa décision plus tôt ?",
    ],
    "Spanish": [
        "El gobierno presentó el martes un nuevo presupuesto para el próximo año.",
        "La película es demasiado larga, pero los actores están muy bien y la música es preciosa.",
        "Después de la tormenta, muchas calles de la ciudad permanecieron cerradas durante varias horas.",
        "Leí el libro en una sola noche, de tan emocionante que era la historia.",
        "Las negociaciones entre los sindicatos y los empresarios se rompieron sin acuerdo.",
        "La comida estaba fría, el camarero fue antipático y la cuenta demasiado cara.",
        "Los científicos advierten de las consecuencias del cambio climático para la agricultura.",
        "¿Por qué el ministro no anunció su decisión antes?",
    ],
    "Indonesian": [
        "Pemerintah mengumumkan anggaran baru untuk tahun depan pada hari Selasa.",
        "Filmnya terlalu panjang, tetapi para pemainnya bagus dan musiknya indah sekali.",
        "Setelah badai, banyak jalan di kota ditutup selama beberapa jam.",
        "Saya membaca buku itu dalam satu malam karena ceritanya sangat menarik.",
        "Perundingan antara serikat pekerja dan pengusaha berakhir tanpa kesepakatan.",
        "Makanannya dingin, pelayannya tidak ramah dan tagihannya terlalu mahal.",
        "Para ilmuwan memperingatkan dampak perubahan iklim terhadap pertanian.",
        "Mengapa menteri tidak mengumumkan keputusannya lebih awal?",
    ],
}
ENGLISH_SETTINGS = ("mr", "subj", "trec", "sst2", "fakenews", "liar", "constraint")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data_dir", default=None)
    ap.add_argument("--source", default="glove-6b-50d")
    ap.add_argument("--output_dir", default="bench/results")
    args = ap.parse_args(argv)
    rows = []
    for setting in ENGLISH_SETTINGS:
        texts = pd.read_csv(materialize(setting, args.data_dir)["train"], dtype=str, keep_default_na=False)["text"]
        rows.append(("English: " + setting, list(texts[:2000])))
    rows += [(language, texts) for language, texts in SAMPLES.items()]
    report = {"source": args.source, "min_token_coverage": MIN_TOKEN_COVERAGE, "rows": []}
    print(f"| text | texts | word tokens known to {args.source} | auto uses the vectors |\n| --- | --- | --- | --- |")
    for name, texts in rows:
        started = time.perf_counter()
        share = token_coverage(lambda texts=texts: [texts], args.source)
        report["rows"].append({"text": name, "texts": len(texts), "coverage": share,
                               "seconds": time.perf_counter() - started})
        print(f"| {name} | {len(texts):,} | {share:.1%} | {'yes' if share >= MIN_TOKEN_COVERAGE else 'no'} |")
    print(f"wrote {write_json(report, args.output_dir, 'vector_coverage.json')}")


if __name__ == "__main__":
    main()
