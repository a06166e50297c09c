"""The progress object's numbers: speed and ETA from bytes coded, measured up to now."""
from __future__ import annotations

from archiver.cli import console
from archiver.cli.console import BarProgress, Rate


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_speed_and_eta_follow_coded_bytes_and_fall_when_coding_stalls():
    clock = Clock()
    rate = Rate(total=10_000_000, clock=clock)
    assert rate.speed() is None and rate.eta() is None          # nothing to tell yet
    for _ in range(10):                                         # 100 kB per second
        clock.t += 1
        rate.add(100_000)
    assert rate.speed() == 100_000
    assert rate.eta() == 90.0
    clock.t += 5                                                # a long chunk, no progress
    assert rate.speed() == 1_000_000 / 15                       # falls, not frozen
    assert rate.eta() == 9_000_000 / (1_000_000 / 15)
    clock.t += console.SPEED_WINDOW + 1                         # nothing for a whole window
    assert rate.speed() == 0 and rate.eta() is None


def test_progress_counts_files_and_classes_and_draws_nothing_when_quiet():
    bar = BarProgress("archiving", quiet=True)
    with bar:
        bar.start(3, 300, by_class={"text": 200, "other": 100})
        bar.advance(nbytes=150, content_class="text")
        bar.advance(files=2)
        bar.advance(nbytes=100, content_class="other")
        bar.on_bytes(10)
    assert bar.live is None
    assert bar.files_done == 2 and bar.overall.done == 260
    assert bar.classes["text"].done == 150 and bar.classes["other"].done == 100
    assert bar.classes["text"].total == 200


class Recorder:
    def __init__(self):
        self.calls = []

    def start(self, files, total_bytes, by_class=None): ...

    def advance(self, files=0, nbytes=0, content_class=None):
        if nbytes:
            self.calls.append(nbytes)


def test_extract_and_verify_count_bytes_while_the_text_model_decodes(tmp_path):
    """Progress comes from inside the codec (every 16,384 positions), not once per chunk."""
    import archiver
    from test_cli_terminal_and_pipes import prose
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "p.txt").write_bytes(prose(100_000))
    archiver.create(tmp_path / "t.bbx", [tmp_path / "t"], jobs=1)
    with archiver.open(tmp_path / "t.bbx") as a:
        assert a.rows()[-1]["codec"] == "text"
        for run in (lambda p: a.extract(tmp_path / "out", progress=p, jobs=1),
                    lambda p: a.verify(progress=p, jobs=1)):
            rec = Recorder()
            report = run(rec)
            assert not report.errors
            assert len(rec.calls) >= 5 and sum(rec.calls) == a.decode_size() == 100_000
