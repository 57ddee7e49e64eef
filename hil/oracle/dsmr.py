"""Expected MQTT output for a telegram, computed only by dsmr-parser.

The oracle is an implementation nobody in this project wrote: dsmr-parser's
``TelegramParser(telegram_specifications.EON_HUNGARY)`` with CRC validation on.
No firmware code is imported here, ever.

How dsmr-parser's EON_HUNGARY maps OBIS codes (dsmr-parser 1.11.2, read from its
source): each spec object has a regex ``^\\d-\\d:C\\.D\\.E.+?\\r\\n`` (the A-B part is
any digit), a ``value_name`` and a value parser. :data:`DSMR_NAMES` below states,
for every contract OBIS code, which ``value_name`` carries it; :func:`check_spec`
proves against the installed package that the named object exists, parses one
Decimal, and that its regex matches that OBIS line and no other contract line.

Findings (dsmr-parser 1.11.2, EON_HUNGARY, both reference captures):

- Every one of the 35 contract OBIS codes is parsed, as a Decimal; on both captures
  all values equal the raw text's numbers (tests/host/test_oracle.py checks it).
- Not parsed (none is in the contract): ``0-0:96.50.68`` (SX631 breaker state; the
  spec only knows ``0-0:96.3.10``), ``0-0:98.1.0`` (billing profile, commented out
  in the spec). The SX631's ``0-0:96.13.0`` (1024 x 0xFF) fails dsmr-parser's value
  regex; dsmr-parser logs it at ERROR and skips it. The oracle swallows such log
  records and reports them in :attr:`Expectation.unparsed`.
- The regexes ignore the A-B part: ``0-0:1.8.0`` would be taken as 1-0:1.8.0.
- ``P1_MESSAGE_TIMESTAMP`` comes back converted to UTC (230817171430S ->
  15:14:30+00:00); not a contract value.
- Data oddity, not a parser gap: the Sagemcom capture has power factors 4.556,
  4.591, 4.542, 4.552 (> 1, physically impossible); dsmr-parser returns them
  as sent, which is what a faithful bridge must publish too.
"""

import functools
import logging
import re
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from dsmr_parser import telegram_specifications
from dsmr_parser.exceptions import InvalidChecksumError, ParseError
from dsmr_parser.parsers import CosemParser, TelegramParser

from .contract import TOPICS

__all__ = [
    "OracleError",
    "OracleChecksumError",
    "OracleSpecError",
    "DSMR_NAMES",
    "Expectation",
    "check_spec",
    "expect",
    "expected_values",
]


class OracleError(Exception):
    """The oracle cannot compute expectations for these bytes."""


class OracleChecksumError(OracleError):
    """dsmr-parser rejected the telegram's CRC."""


class OracleSpecError(OracleError):
    """The installed dsmr-parser does not map the contract the way we rely on."""


SPEC = telegram_specifications.EON_HUNGARY

DSMR_NAMES = MappingProxyType({
    "0-0:17.0.0": "ACTUAL_TRESHOLD_ELECTRICITY",
    "1-0:1.8.0": "ELECTRICITY_IMPORTED_TOTAL",
    "1-0:1.8.1": "ELECTRICITY_USED_TARIFF_1",
    "1-0:1.8.2": "ELECTRICITY_USED_TARIFF_2",
    "1-0:1.8.3": "ELECTRICITY_USED_TARIFF_3",
    "1-0:1.8.4": "ELECTRICITY_USED_TARIFF_4",
    "1-0:2.8.0": "ELECTRICITY_EXPORTED_TOTAL",
    "1-0:2.8.1": "ELECTRICITY_DELIVERED_TARIFF_1",
    "1-0:2.8.2": "ELECTRICITY_DELIVERED_TARIFF_2",
    "1-0:2.8.3": "ELECTRICITY_DELIVERED_TARIFF_3",
    "1-0:2.8.4": "ELECTRICITY_DELIVERED_TARIFF_4",
    "1-0:3.8.0": "ELECTRICITY_REACTIVE_IMPORTED_TOTAL",
    "1-0:4.8.0": "ELECTRICITY_REACTIVE_EXPORTED_TOTAL",
    "1-0:5.8.0": "ELECTRICITY_REACTIVE_TOTAL_Q1",
    "1-0:6.8.0": "ELECTRICITY_REACTIVE_TOTAL_Q2",
    "1-0:7.8.0": "ELECTRICITY_REACTIVE_TOTAL_Q3",
    "1-0:8.8.0": "ELECTRICITY_REACTIVE_TOTAL_Q4",
    "1-0:15.8.0": "ELECTRICITY_COMBINED",
    "1-0:32.7.0": "INSTANTANEOUS_VOLTAGE_L1",
    "1-0:52.7.0": "INSTANTANEOUS_VOLTAGE_L2",
    "1-0:72.7.0": "INSTANTANEOUS_VOLTAGE_L3",
    "1-0:31.7.0": "INSTANTANEOUS_CURRENT_L1",
    "1-0:51.7.0": "INSTANTANEOUS_CURRENT_L2",
    "1-0:71.7.0": "INSTANTANEOUS_CURRENT_L3",
    "1-0:13.7.0": "INSTANTANEOUS_POWER_FACTOR_TOTAL",
    "1-0:33.7.0": "INSTANTANEOUS_POWER_FACTOR_L1",
    "1-0:53.7.0": "INSTANTANEOUS_POWER_FACTOR_L2",
    "1-0:73.7.0": "INSTANTANEOUS_POWER_FACTOR_L3",
    "1-0:14.7.0": "FREQUENCY",
    "1-0:1.7.0": "CURRENT_ELECTRICITY_USAGE",
    "1-0:2.7.0": "CURRENT_ELECTRICITY_DELIVERY",
    "1-0:5.7.0": "INSTANTANEOUS_REACTIVE_POWER_Q1",
    "1-0:6.7.0": "INSTANTANEOUS_REACTIVE_POWER_Q2",
    "1-0:7.7.0": "INSTANTANEOUS_REACTIVE_POWER_Q3",
    "1-0:8.7.0": "INSTANTANEOUS_REACTIVE_POWER_Q4",
})
"""Contract OBIS code -> the EON_HUNGARY ``value_name`` that carries it."""

_TOPIC_BY_DSMR_NAME = MappingProxyType({name: TOPICS[obis] for obis, name in DSMR_NAMES.items()})


@dataclass(frozen=True)
class Expectation:
    """What a correct bridge publishes for one telegram, per contract topic."""

    values: MappingProxyType  # topic name -> Decimal
    units: MappingProxyType  # topic name -> unit text or None (power factors)
    unparsed: tuple  # EON_HUNGARY value_names whose line dsmr-parser skipped


@functools.cache
def check_spec():
    """Prove :data:`DSMR_NAMES` against the installed dsmr-parser; raise if wrong.

    For each contract OBIS code: exactly one EON_HUNGARY object has the named
    ``value_name``; it is a one-value Decimal ``CosemParser``; its regex matches a
    line for that OBIS code and for no other contract OBIS code. Cached: the
    installed package does not change while we run.
    """
    if set(DSMR_NAMES) != set(TOPICS):
        raise OracleSpecError("DSMR_NAMES and hil.oracle.contract.TOPICS cover different OBIS codes: %s"
                              % sorted(set(DSMR_NAMES) ^ set(TOPICS)))
    parser = TelegramParser(SPEC)
    by_name = {}
    for obj in SPEC["objects"]:
        by_name.setdefault(obj["value_name"], []).append(obj)
    sample = {obis: "%s(1.000*kWh)\r\n" % obis for obis in DSMR_NAMES}
    problems = []
    for obis, name in DSMR_NAMES.items():
        objs = by_name.get(name, [])
        if len(objs) != 1:
            problems.append("%s: EON_HUNGARY has %d objects named %s" % (obis, len(objs), name))
            continue
        obj = objs[0]
        vp = obj["value_parser"]
        formats = getattr(vp, "value_formats", ())
        if type(vp) is not CosemParser or len(formats) != 1 or formats[0].coerce_type is not Decimal:
            problems.append("%s: %s is not a one-value Decimal CosemParser" % (obis, name))
        regex = parser.telegram_specification_regexes[obj["obis_reference"]]
        matched = sorted(o for o, line in sample.items() if regex.match(line))
        if matched != [obis]:
            problems.append("%s: regex of %s matches %s" % (obis, name, matched))
    if problems:
        raise OracleSpecError("installed dsmr-parser does not fit the contract: " + "; ".join(problems))
    return parser


class _SkippedLines(logging.Filter):
    """Collects and silences dsmr-parser's 'ignore line ... parsing failed' records."""

    def __init__(self, regex_to_name):
        super().__init__()
        self.regex_to_name = regex_to_name
        self.names = []

    def filter(self, record):
        if record.getMessage().startswith("ignore line with signature "):
            regex = record.getMessage()[len("ignore line with signature "):].split(", because", 1)[0]
            self.names.append(self.regex_to_name.get(regex, regex))
            return False
        return True


# A meter's CRC may come unpadded (1-3 digits below 0x1000), which dsmr-parser
# 1.11.2 reads as meant ([0-9A-Z]{1,4}), or in lower-case hex, the same number,
# of which it would read no digit: handed over upper-cased, as the bridge reads it.
_CRC_LINE = re.compile(rb"(?m)^!([0-9a-fA-F]{1,4})(?=\r?$)")


def _upper(m):
    return b"!" + m.group(1).upper()


def expect(telegram):
    """Parse one telegram (bytes, '/' through CRC) with dsmr-parser, CRC checked.

    Raises :class:`OracleChecksumError` for a bad CRC, :class:`OracleError` for
    anything else dsmr-parser cannot take, or when it skipped a contract line.
    """
    if not isinstance(telegram, (bytes, bytearray, memoryview)):
        raise TypeError("telegram must be bytes, got %s" % type(telegram).__name__)
    parser = check_spec()
    # latin-1 maps each byte to one code point of the same value: dsmr-parser's CRC
    # (computed over ord(c)) equals the wire CRC, and the 0xFF line survives.
    text = _CRC_LINE.sub(_upper, bytes(telegram)).decode("latin-1")
    log = logging.getLogger("dsmr_parser.parsers")
    skipped = _SkippedLines({obj["obis_reference"]: obj["value_name"] for obj in SPEC["objects"]})
    log.addFilter(skipped)
    try:
        parsed = parser.parse(text)
    except InvalidChecksumError as err:
        raise OracleChecksumError("dsmr-parser rejected the CRC: %s" % err) from err
    except ParseError as err:
        raise OracleError("dsmr-parser could not parse the telegram: %s" % (err,)) from err
    finally:
        log.removeFilter(skipped)
    lost = sorted(set(skipped.names) & set(_TOPIC_BY_DSMR_NAME))
    if lost:
        raise OracleError("dsmr-parser skipped contract lines: %s" % ", ".join(lost))
    values, units = {}, {}
    for name, obj in parsed:
        topic = _TOPIC_BY_DSMR_NAME.get(name)
        if topic is None:
            continue
        if not isinstance(obj.value, Decimal):
            raise OracleError("dsmr-parser gave %s = %r, not a Decimal" % (name, obj.value))
        values[topic] = obj.value
        units[topic] = obj.unit
    return Expectation(MappingProxyType(values), MappingProxyType(units), tuple(skipped.names))


def expected_values(telegram):
    """Topic name -> Decimal for every contract value dsmr-parser extracts."""
    return dict(expect(telegram).values)
