"""Pinned compressed words: any change to the bitstream format (format_spec/rans.md) shows
up here. If a change is intended, bump the format version and re-pin."""
import numpy as np
import pytest

from cython_ans import Message
from cython_ans.reference import Message as RefMessage

GOLDEN = ("ffff8f65fdffdf38feffcff0fcff8f231c0010de67037014c11b181f8e0150559d29afdfbd003b7c22c5af"
          "312c612100514affff3680139104ec7ed9e7091e7c13070000")


def build(M):
    m = M(seed=12345)
    m.push_categorical([0, 1, 2, 2, 1, 0, 2], np.array([1, 3, 4], np.uint32), 3)
    m.push_categorical(np.arange(20) % 5,
                       np.array([[100, 200, 300, 400, 1048576 - 1000],
                                 [1048576 - 4, 1, 1, 1, 1]], np.uint32),
                       20, table_idx=np.arange(20) % 2)
    m.push_uniform(np.arange(10) * 97, 1000)
    m.push_uniform([0, 65535, 12345], 65536)
    m.push_logistic(np.arange(12) * 21, (np.arange(12) * 21 * 256 + 77).astype(np.int32),
                    np.arange(12) * 10, 256, 16)
    m.push_logistic([0, 1023, 512, 700], [-(2**31), 2**31 - 1, 512 * 256, 650 * 256],
                    [0, 127, 40, 64], 1024, 24)
    return m


@pytest.mark.parametrize("M", [Message, RefMessage])
def test_golden_words(M):
    m = build(M)
    assert m.to_bytes().hex() == GOLDEN
    assert m.bit_length() == 4 * len(GOLDEN)


def test_golden_words_decode():
    m = Message.from_bytes(bytes.fromhex(GOLDEN), seed=12345)
    assert m.pop_logistic(4, [-(2**31), 2**31 - 1, 512 * 256, 650 * 256], [0, 127, 40, 64],
                          1024, 24).tolist() == [0, 1023, 512, 700]
    assert np.array_equal(m.pop_logistic(12, (np.arange(12) * 21 * 256 + 77).astype(np.int32),
                                         np.arange(12) * 10, 256, 16), np.arange(12) * 21)
    assert m.pop_uniform(3, 65536).tolist() == [0, 65535, 12345]
    assert np.array_equal(m.pop_uniform(10, 1000), np.arange(10) * 97)
    assert m.pop_categorical(20, np.array([[100, 200, 300, 400, 1048576 - 1000],
                                           [1048576 - 4, 1, 1, 1, 1]], np.uint32), 20,
                             table_idx=np.arange(20) % 2).tolist() == (np.arange(20) % 5).tolist()
    assert m.pop_categorical(7, np.array([1, 3, 4], np.uint32), 3).tolist() == [0, 1, 2, 2, 1, 0, 2]
    assert m.is_initial() and m.initial_bits_drawn == 0


@pytest.mark.parametrize("M", [Message, RefMessage])
def test_golden_initial_bits(M):
    """Pops from an empty message read the seeded source (SplitMix64, format_spec/rans.md)."""
    m = M(seed=99)
    assert m.pop_logistic(5, 100 * 256, 50, 256, 16).tolist() == [0, 103, 97, 102, 98]
    assert m.pop_uniform(3, 10).tolist() == [0, 2, 4]
    assert m.initial_bits_drawn == 64
    assert m.to_bytes().hex() == "3209f249d4411800"


def test_empty_message_bytes():
    assert Message(7).to_bytes() == (1 << 32).to_bytes(8, "little")
    assert Message(7).bit_length() == 64
