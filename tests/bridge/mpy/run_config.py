# Validate each JSON document given on the command line; print the problems as JSON.
import sys
import json
import config

out = []
for arg in sys.argv[1:]:
    if arg.startswith("@"):
        cfg, problems = config.load(arg[1:])
    else:
        cfg, problems = config.validate(json.loads(arg))
    out.append({"problems": problems, "cfg": cfg})
print(json.dumps(out))
