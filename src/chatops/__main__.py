from chatops.cli import main

main()
