# Run main.py's boot flow with fake board modules (fakeboard/ on MICROPYPATH);
# the cwd holds config.json.
import main  # noqa: F401  (runs the boot flow)

print("fake: main.py returned to the REPL%s" % (", stay() at the prompt" if callable(globals().get("stay")) else ""))
