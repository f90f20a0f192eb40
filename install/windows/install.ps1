# Install, or upgrade in place, the commune edge node as a Windows service (WinSW v2).
# Run from the release folder made by build_bundle.py, in an ELEVATED PowerShell:
#
#   powershell -ExecutionPolicy Bypass -File .\install.ps1            # this PC only
#   powershell -ExecutionPolicy Bypass -File .\install.ps1 -Lan       # other PCs of the office too
#
# No network is needed. The data lives in C:\ProgramData\EdgeNode and is kept on upgrade
# and on uninstall (unless uninstall.ps1 -Purge). NOT TESTED ON WINDOWS: see docs/install.md.
#Requires -RunAsAdministrator
[CmdletBinding()]
param(
    [string]$InstallDir = (Join-Path $env:ProgramFiles 'EdgeNode'),
    [string]$HomeDir = (Join-Path $env:ProgramData 'EdgeNode'),
    [int]$Port = 8080,
    [switch]$Lan
)
$ErrorActionPreference = 'Stop'
$Bundle = $PSScriptRoot
$Id = 'EdgeNode'
$RuleName = 'Commune edge node (LAN)'

foreach ($need in @('python\python.exe', "$Id.exe", 'winsw.py')) {
    if (-not (Test-Path (Join-Path $Bundle $need))) {
        throw "This folder is not a release folder made by build_bundle.py (missing $need)."
    }
}

# 1. Stop the running service for an upgrade; keep the previous program files for a rollback.
$upgrade = Test-Path (Join-Path $InstallDir 'python\python.exe')
$service = Get-Service -Name $Id -ErrorAction SilentlyContinue
if ($service -and $service.Status -ne 'Stopped') {
    Write-Host "Stopping the $Id service for the upgrade"
    Stop-Service -Name $Id
    $service.WaitForStatus('Stopped', (New-TimeSpan -Seconds 60))
}
$previous = "$InstallDir.previous"
if ($upgrade) {
    if (Test-Path $previous) { Remove-Item -Recurse -Force $previous }
    Copy-Item -Recurse $InstallDir $previous
}

# 2. Program files: Python with the node, WinSW, the XML generator.
New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
if (Test-Path (Join-Path $InstallDir 'python')) {
    Remove-Item -Recurse -Force (Join-Path $InstallDir 'python')
}
Copy-Item -Recurse (Join-Path $Bundle 'python') (Join-Path $InstallDir 'python')
foreach ($file in @("$Id.exe", 'winsw.py', 'uninstall.ps1', 'requirements.lock')) {
    Copy-Item -Force (Join-Path $Bundle $file) (Join-Path $InstallDir $file)
}
$Py = Join-Path $InstallDir 'python\python.exe'

# 3. The home: only SYSTEM, Administrators and the service account (LocalService) may enter.
New-Item -ItemType Directory -Force -Path $HomeDir | Out-Null
& icacls.exe $HomeDir /inheritance:r /grant:r 'SYSTEM:(OI)(CI)F' 'Administrators:(OI)(CI)F' `
    'NT AUTHORITY\LocalService:(OI)(CI)M' | Out-Null
if ($LASTEXITCODE -ne 0) { throw "icacls could not protect $HomeDir" }

function Restore-Previous([string]$why) {
    if ($upgrade -and (Test-Path $previous)) {
        Remove-Item -Recurse -Force $InstallDir
        Move-Item $previous $InstallDir
        Start-Service -Name $Id -ErrorAction SilentlyContinue
        throw "$why The previous version is back."
    }
    throw $why
}

# 4. Upgrade: apply migrations (edge-node migrate backs up first) when this version has it.
$env:EDGE_NODE_HOME = $HomeDir
if ($upgrade) {
    & $Py -m edge_node migrate --help *> $null
    if ($LASTEXITCODE -eq 0) {
        & $Py -m edge_node migrate
        if ($LASTEXITCODE -ne 0) { Restore-Previous 'edge-node migrate failed; data unchanged.' }
    }
}

# 5. Create or complete the home; the first run prints the admin's one-time password.
$env:EDGE_NODE_PORT = "$Port"
$env:EDGE_NODE_LAN = if ($Lan) { 'true' } else { 'false' }
$ErrorActionPreference = 'Continue'  # PowerShell 5.1 turns a native stderr line into an error
$initOut = & $Py -m edge_node init 2>&1 | Out-String
$initCode = $LASTEXITCODE
$ErrorActionPreference = 'Stop'
Remove-Item Env:EDGE_NODE_PORT, Env:EDGE_NODE_LAN
if ($initCode -ne 0) { Write-Host $initOut; Restore-Previous 'edge-node init failed.' }
$password = ''
if ($initOut -match '(?m)^\s+password: (\S+)') { $password = $Matches[1] }
# An existing home keeps its config.toml: its port and LAN mode win over the options.
$mode = (& $Py -c "import sys; from edge_node.config import LOOPBACK_HOSTS, load_config; c = load_config(sys.argv[1]); print(c.port, 'local' if c.listen_host in LOOPBACK_HOSTS else 'lan')" $HomeDir).Split(' ')
$configLan = ($mode[1] -eq 'lan')
if ($Lan -and -not $configLan) {
    Write-Warning "LAN mode is off in $HomeDir\config.toml; set lan = true there to use -Lan."
}
$Port = [int]$mode[0]
$lanMode = $configLan

# 6. The service definition for this home, then install (first time) and start.
& $Py (Join-Path $InstallDir 'winsw.py') --home $HomeDir --out (Join-Path $InstallDir "$Id.xml")
if ($LASTEXITCODE -ne 0) { Restore-Previous 'winsw.py could not write the service XML.' }
$winsw = Join-Path $InstallDir "$Id.exe"
if (-not $service) {
    & $winsw install
    if ($LASTEXITCODE -ne 0) { throw 'WinSW could not install the service.' }
} else {
    & $winsw refresh  # WinSW v2: apply the new XML to the installed service
}
& $winsw start

# 7. Firewall: an inbound rule only in LAN mode; removed otherwise.
Get-NetFirewallRule -DisplayName $RuleName -ErrorAction SilentlyContinue | Remove-NetFirewallRule
if ($lanMode) {
    New-NetFirewallRule -DisplayName $RuleName -Direction Inbound -Protocol TCP `
        -LocalPort $Port -Action Allow -Profile Domain, Private | Out-Null
}

# 8. Start-menu shortcut to the local address.
$url = "http://127.0.0.1:$Port/"
$menu = Join-Path $env:ProgramData 'Microsoft\Windows\Start Menu\Programs'
Set-Content -Encoding ASCII -Path (Join-Path $menu 'Commune edge node.url') `
    -Value "[InternetShortcut]`r`nURL=$url`r`n"

# 9. Wait until it serves (edge-node status exits 0), at most 120 s (a big database is
#    checked first after an unclean stop).
$running = $false
for ($i = 0; $i -lt 120 -and -not $running; $i++) {
    & $Py -m edge_node status --no-db-check *> $null
    $running = ($LASTEXITCODE -eq 0)
    if (-not $running) { Start-Sleep -Seconds 1 }
}
if (-not $running) {
    & $winsw stop
    Restore-Previous "The service did not start; see $HomeDir\logs."
}
if (Test-Path $previous) { Remove-Item -Recurse -Force $previous }

Write-Host ''
if ($upgrade) { Write-Host "Commune edge node upgraded; the data in $HomeDir is kept." }
else { Write-Host "Commune edge node installed; data in $HomeDir." }
Write-Host "  Open: $url  (Start menu: Commune edge node)"
if ($password) {
    Write-Host "  First login: username admin, password $password"
    Write-Host '  (shown only once; the node asks for a new password at the first login)'
}
if ($lanMode) {
    Write-Host "  LAN mode: other PCs open http://<this PC's address>:$Port/ (firewall rule added)"
}
