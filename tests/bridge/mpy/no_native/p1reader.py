# Stands in for p1reader.py on an ESP8266 with no room for native code: its
# import fails the way loading a native .mpy does there.
raise MemoryError("memory allocation failed, allocating 9957 bytes for native code")
