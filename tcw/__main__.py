from tcw.cli.main import main

main()
