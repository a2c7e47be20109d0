from rubberduck.cli import main

raise SystemExit(main())
