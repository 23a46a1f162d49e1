"""The checks against handmade histories: each kind of broken promise is found, and a run that
kept every promise (including records that failed and were never stored) passes."""

import unittest

from checks import check


def ack(v, p, o):
    return {"type": "ack", "value": v, "partition": p, "offset": o}


def read(v, p, o):
    return {"type": "read", "value": v, "partition": p, "offset": o}


def fail(v):
    return {"type": "fail", "value": v, "error": "timed out"}


def kinds(problems):
    return sorted({k for k, _ in problems})


class Checks(unittest.TestCase):
    def test_a_run_that_kept_its_promises_passes(self):
        history = [ack("a-0", 0, 0), ack("a-1", 0, 1), fail("a-2"), ack("b-0", 1, 0),
                   read("a-0", 0, 0), read("b-0", 1, 0)]
        # a-2 failed and was stored anyway (a timeout after the write): allowed, once.
        final = {0: [(0, "a-0"), (1, "a-1"), (2, "a-2")], 1: [(0, "b-0")]}
        self.assertEqual(check(history, final), [])

    def test_a_lost_acknowledged_record_is_found(self):
        history = [ack("a-0", 0, 0), ack("a-1", 0, 1)]
        self.assertEqual(kinds(check(history, {0: [(0, "a-0")]})), ["lost"])

    def test_a_record_acknowledged_at_another_offset_is_found(self):
        history = [ack("a-0", 0, 0)]
        self.assertEqual(kinds(check(history, {0: [(0, "x-9"), (1, "a-0")]})), ["moved"])

    def test_an_acknowledgement_without_an_offset_needs_the_record_in_its_partition(self):
        history = [ack("a-0", 0, None), ack("a-1", 0, None)]
        self.assertEqual(check(history, {0: [(0, "a-0"), (1, "a-1")]}), [])
        self.assertEqual(kinds(check(history, {0: [(0, "a-0")], 1: [(0, "a-1")]})), ["moved"])

    def test_a_duplicate_is_found(self):
        history = [ack("a-0", 0, 0)]
        self.assertEqual(kinds(check(history, {0: [(0, "a-0"), (1, "a-0")]})), ["duplicated"])

    def test_records_out_of_order_are_found(self):
        final = {0: [(0, "a-1"), (1, "a-0")]}
        self.assertEqual(kinds(check([], final)), ["reordered"])

    def test_a_read_of_a_record_later_truncated_is_found(self):
        history = [read("a-5", 0, 3), read("b-0", 0, 3)]
        problems = check(history, {0: [(0, "x-0"), (1, "x-1"), (2, "x-2"), (3, "b-0")]})
        self.assertEqual(kinds(problems), ["offset reused", "read then lost"])


if __name__ == "__main__":
    unittest.main()
