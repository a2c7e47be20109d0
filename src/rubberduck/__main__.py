from rubberduck.cli import main

# Guarded: the log writer process (spawned) imports the parent's main module without running it.
if __name__ == "__main__":
    raise SystemExit(main())
