"""The P1 side: framing and CRC, the capture library, anonymising, synthesizing, recording."""
