# Print the CRC16 of a capture from '/' through '!' as 4 hex digits.
import sys
import p1reader

data = open(sys.argv[1], "rb").read()
start = data.index(b"/")
end = data.index(b"!") + 1
print("%04X" % p1reader.crc16(data[start:end]))
print("%04X" % p1reader.crc16(data[start + 10:end], p1reader.crc16(data[start:start + 10])))
