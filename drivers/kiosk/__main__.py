from drivers.kiosk.cli import main

raise SystemExit(main())
