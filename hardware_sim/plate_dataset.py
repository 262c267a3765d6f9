"""A labelled set of synthetic camera stills, generated at run time from a seed.

``clean``: daylight, straight on, plates 140–260 px wide in a 1280×720 frame.
``hard``: one of night, motion blur or an off-axis view (yaw 15–35°), plates 100–220 px.
Each still is a JPEG under ``OUT/{set}/``; ``OUT/labels.csv`` names its plate(s) and
conditions. The same seed always gives the same set, so nothing large is committed.

``python -m hardware_sim.plate_dataset OUT [--clean N] [--hard N] [--seed S]``
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from hardware_sim.synthetic_camera import Conditions, SyntheticCameraError, compose, random_truck

HARD_CONDITIONS = ("night", "blur", "angle")
FIELDS = ("file", "set", "condition", "vrn", "mainland", "view", "plate_width", "yaw_deg")


@dataclass(frozen=True, slots=True)
class Label:
    """One still: where it is (relative to the set folder) and what it shows."""

    file: str
    set: str
    condition: str
    vrn: str
    mainland: str
    view: str
    plate_width: int
    yaw_deg: float


def _conditions(condition: str, rng: np.random.Generator) -> Conditions:
    if condition == "day":
        return Conditions(yaw_deg=float(rng.uniform(-5, 5)), noise=2.0, jpeg_quality=90)
    if condition == "night":
        return Conditions(
            night=float(rng.uniform(0.7, 1.0)), glare=float(rng.uniform(0, 0.4)), jpeg_quality=85
        )
    if condition == "blur":
        return Conditions(blur=float(rng.uniform(0.4, 1.0)), noise=3.0, jpeg_quality=80)
    if condition == "angle":
        sign = 1 if rng.random() < 0.5 else -1
        return Conditions(
            yaw_deg=sign * float(rng.uniform(15, 35)),
            roll_deg=float(rng.uniform(-6, 6)),
            jpeg_quality=85,
        )
    raise ValueError(f"unknown condition {condition!r}")


def generate(
    out: str | Path,
    *,
    clean: int = 100,
    hard: int = 99,
    seed: int = 7,
    size: tuple[int, int] = (1280, 720),
    cross_boundary: float = 0.35,
) -> list[Label]:
    """Write ``clean`` + ``hard`` stills and ``labels.csv`` under ``out``; return the labels."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    width, height = size
    labels: list[Label] = []
    plan = [("clean", "day")] * clean + [
        ("hard", HARD_CONDITIONS[i % len(HARD_CONDITIONS)]) for i in range(hard)
    ]
    for set_name in ("clean", "hard"):
        (out / set_name).mkdir(parents=True, exist_ok=True)
    for i, (set_name, condition) in enumerate(plan):
        truck = random_truck(rng, cross_boundary=cross_boundary)
        low, high = (140, 260) if set_name == "clean" else (100, 220)
        plate_width = int(rng.integers(low, high + 1)) * width // 1280
        conditions = _conditions(condition, rng)
        center = (float(rng.uniform(0.35, 0.65)) * width, float(rng.uniform(0.55, 0.75)) * height)
        frame = compose(
            truck, size=size, center=center, plate_width=plate_width, conditions=conditions, rng=rng
        )
        name = f"{set_name}/{i:04d}_{condition}.jpg"
        if not cv2.imwrite(str(out / name), frame, [cv2.IMWRITE_JPEG_QUALITY, 95]):
            raise SyntheticCameraError(
                f"cannot write {out / name}", key="sim_camera_write", path=str(out / name)
            )
        labels.append(
            Label(
                file=name,
                set=set_name,
                condition=condition,
                vrn=truck.vrn,
                mainland=truck.mainland_vrn or "",
                view=truck.view,
                plate_width=plate_width,
                yaw_deg=round(conditions.yaw_deg, 1),
            )
        )
    with (out / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        for label in labels:
            writer.writerow(asdict(label))
    return labels


def load_labels(path: str | Path) -> list[Label]:
    """The labels of a generated set (``labels.csv`` or the folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "labels.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return [
            Label(
                file=row["file"],
                set=row["set"],
                condition=row["condition"],
                vrn=row["vrn"],
                mainland=row["mainland"],
                view=row["view"],
                plate_width=int(row["plate_width"]),
                yaw_deg=float(row["yaw_deg"]),
            )
            for row in csv.DictReader(fh)
        ]


def _count(text: str) -> int:
    """An argparse type: a whole number, 0 or more (numpy's seeds are never negative)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number, 0 or more")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="plate_dataset", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--clean", type=_count, default=100, help="clean stills (0 or more)")
    parser.add_argument("--hard", type=_count, default=99, help="hard stills (0 or more)")
    parser.add_argument("--seed", type=_count, default=7, help="seed (0 or more)")
    args = parser.parse_args(argv)
    try:
        labels = generate(args.out, clean=args.clean, hard=args.hard, seed=args.seed)
    except (SyntheticCameraError, OSError) as err:
        sys.stderr.write(f"plate_dataset: {err}\n")
        return 1
    sys.stdout.write(f"{len(labels)} stills and labels.csv in {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
