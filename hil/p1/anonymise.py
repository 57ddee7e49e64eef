"""Rewrite a meter's identifiers in P1 telegrams, keeping everything else.

What is an identifier here (Hungarian E.ON profile, DSMR 5 based):

- the header line ``/XXXZident``: ``XXX`` is the manufacturer (kept), ``Z`` the
  baud-rate/version character (kept), ``ident`` the rest of the line (rewritten);
- ``A-B:96.1.x`` equipment identifiers and ``0-0:42.0.0`` (COSEM logical device
  name). Their value is either plain ASCII (SX631: ``9903218166``,
  ``AUX1030303218166``) or hex-encoded ASCII (Sagemcom:
  ``383930303832323030303032313630`` = ``890082200002160``). Hex-encoded text is
  decoded, rewritten and encoded again, so it stays hex-encoded.

Rewriting keeps the length and the class of every character (digit -> digit,
upper -> upper, lower -> lower, anything else kept) and changes every such
character. A leading manufacturer code equal to the header's ``XXX`` is kept in
42.0.0 (it names the maker, not the meter). The replacement is a keyed hash of
the original: the same original gives the same replacement in every telegram of
a file (and across files anonymised with the same seed). Without a seed the key
is random, so nobody can brute-force the short digit serials back from a
published capture.

The CRC is recomputed. A telegram whose CRC was already wrong stays wrong by the
same amount (``new_field = new_crc ^ (old_field ^ old_crc)``), so anonymising
never launders a corrupted telegram into a clean one. After rewriting, the
output is searched for every original identifier, plain and hex-encoded (upper
and lower case); a hit raises :class:`AnonymiseLeakError` instead of writing.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import string

from . import framing as p1

__all__ = ["AnonymiseError", "AnonymiseLeakError", "Anonymiser", "anonymise", "identifiers"]

_MIN_LEAK_LEN = 4  # identifiers shorter than this are not searched for (too common)


class AnonymiseError(Exception):
    """The bytes cannot be anonymised safely."""


class AnonymiseLeakError(AnonymiseError):
    """An original identifier is still in the output."""


_HEADER_RE = re.compile(rb"\A/([A-Za-z]{3})(.)([^\r\n]*)\r?\n")
_ID_LINE_RE = re.compile(rb"^(\d{1,3}-\d{1,3}:(?:96\.1\.\d{1,3}|42\.0\.0))\(([^()\r\n]*)\)", re.MULTILINE)
_HEX_RE = re.compile(rb"\A(?:[0-9A-Fa-f]{2}){2,}\Z")
_HEX_TEXT_RE = re.compile(rb"\A[0-9A-Za-z \-_.]+\Z")
_CLASSES = (string.digits, string.ascii_uppercase, string.ascii_lowercase)


def _hex_text(value: bytes) -> bytes | None:
    """The ASCII text a hex-encoded value stands for, or None when it is plain.

    Hex-encoded means: an even number (>= 4) of hex digits decoding to letters,
    digits, space, '-', '_' or '.'. ``9903218166`` decodes to 0x99 0x03 ... and
    is therefore plain.
    """
    if not _HEX_RE.match(value):
        return None
    text = bytes.fromhex(value.decode("ascii"))
    return text if _HEX_TEXT_RE.match(text) else None


class Anonymiser:
    """Consistent identifier rewriting for one or more telegrams.

    ``seed``: any str/int/bytes for a reproducible mapping; None for a random key.
    ``originals`` collects every identifier seen (as text), for the leak check.
    """

    def __init__(self, seed=None):
        if seed is None:
            key = os.urandom(32)
        else:
            key = hashlib.sha256(b"hil.anonymise:" + str(seed).encode("utf-8")).digest()
        self._key = key
        self.originals: set[bytes] = set()
        self.mapping: dict[tuple[bytes, int], bytes] = {}

    # --- one identifier ---
    def replace(self, original: bytes, keep: int = 0) -> bytes:
        """Class-preserving replacement of ``original``; the first ``keep`` bytes stay."""
        original = bytes(original)
        cached = self.mapping.get((original, keep))
        if cached is not None:
            return cached
        stream = self._stream(original)
        out = bytearray(original[:keep])
        for byte in original[keep:]:
            ch = chr(byte)
            for alphabet in _CLASSES:
                if ch in alphabet:
                    # A different character of the same class, never the same one.
                    pick = next(stream) % (len(alphabet) - 1)
                    new = alphabet[pick if pick < alphabet.index(ch) else pick + 1]
                    out.append(ord(new))
                    break
            else:
                out.append(byte)
        result = bytes(out)
        self.mapping[(original, keep)] = result
        if len(original) - keep >= _MIN_LEAK_LEN:
            self.originals.add(original[keep:] if keep else original)
        return result

    def _stream(self, original: bytes):
        counter = 0
        while True:
            block = hmac.new(self._key, b"%d:" % counter + original, hashlib.sha256).digest()
            yield from block
            counter += 1

    # --- one telegram ---
    def telegram(self, telegram: bytes) -> bytes:
        """Anonymise one frame ('/' through the CRC line's LF)."""
        telegram = bytes(telegram)
        if not telegram.startswith(b"/"):
            raise AnonymiseError("a telegram must start with '/', got %r" % telegram[:20])
        bang = telegram.rfind(b"\n!")
        if bang < 0:
            raise AnonymiseError("no '!' end line in the telegram")
        bang += 1
        body, tail = telegram[:bang + 1], telegram[bang + 1:]
        head = _HEADER_RE.match(body)
        if head is None:
            raise AnonymiseError("header line %r is not '/XXXZident'" % body[:40])
        maker = head.group(1)
        ident = head.group(3)
        new_ident = self.replace(ident) if ident else ident
        body = body[:head.start(3)] + new_ident + body[head.end(3):]

        def rewrite(m):
            value = m.group(2)
            text = _hex_text(value)
            plain = text if text is not None else value
            keep = len(maker) if m.group(1).endswith(b"42.0.0") and plain[:len(maker)] == maker else 0
            new = self.replace(plain, keep)
            if text is not None:
                new = new.hex().encode("ascii")
                if value != value.upper():
                    new = new.lower()
                else:
                    new = new.upper()
            return m.group(1) + b"(" + new + b")"

        body = _ID_LINE_RE.sub(rewrite, body)
        return body + self._crc_tail(telegram[:bang + 1], body, tail)

    @staticmethod
    def _crc_tail(old_body: bytes, new_body: bytes, tail: bytes) -> bytes:
        """CRC field + line end for the new body; a wrong CRC stays wrong by the same delta."""
        field, rest = re.match(rb"([^\r\n]*)(.*)\Z", tail, re.DOTALL).groups()
        new_crc = p1.crc16(new_body)
        if re.fullmatch(rb"[0-9A-Fa-f]{4}", field):
            delta = int(field, 16) ^ p1.crc16(old_body)
            return b"%04X" % (new_crc ^ delta) + rest
        return field + rest  # no CRC to keep right or wrong (malformed field): keep as is

    # --- a file of telegrams ---
    def data(self, data: bytes) -> bytes:
        """Anonymise back-to-back telegrams; the file must hold nothing else."""
        data = bytes(data)
        frames = p1.split_telegrams(data)
        if b"".join(frames) != data:
            raise AnonymiseError("the file holds bytes outside complete telegrams; "
                                 "run `hil captures validate` to see where")
        out = b"".join(self.telegram(f) for f in frames)
        self.check(out)
        return out

    def check(self, data: bytes) -> None:
        """Raise AnonymiseLeakError if any original identifier is still in ``data``."""
        leaks = []
        for original in sorted(self.originals):
            forms = {original, original.hex().encode(), original.hex().upper().encode()}
            for form in forms:
                at = data.find(form)
                if at >= 0:
                    leaks.append("%r at byte %d" % (form, at))
        if leaks:
            raise AnonymiseLeakError("original identifiers still present after rewriting: " + ", ".join(leaks))


def identifiers(telegram: bytes) -> list[bytes]:
    """The identifiers an :class:`Anonymiser` rewrites in ``telegram`` (as text)."""
    anon = Anonymiser(seed=0)
    anon.telegram(telegram)
    return sorted(anon.originals)


def anonymise(data: bytes, seed=None) -> bytes:
    """Anonymise a file of back-to-back telegrams (see :class:`Anonymiser`)."""
    return Anonymiser(seed).data(data)
