from layers_tui.cli import main

raise SystemExit(main())
