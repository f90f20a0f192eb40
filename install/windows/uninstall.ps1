# Remove the commune edge node service, its firewall rule, shortcut and program files.
# The data in C:\ProgramData\EdgeNode is KEPT unless -Purge (after a last backup when the
# installed version has 'edge-node backup'). Run in an ELEVATED PowerShell:
#
#   powershell -ExecutionPolicy Bypass -File "C:\Program Files\EdgeNode\uninstall.ps1"
#   powershell -ExecutionPolicy Bypass -File "C:\Program Files\EdgeNode\uninstall.ps1" -Purge
#
# NOT TESTED ON WINDOWS: see docs/install.md.
#Requires -RunAsAdministrator
[CmdletBinding()]
param(
    [string]$InstallDir = (Join-Path $env:ProgramFiles 'EdgeNode'),
    [string]$HomeDir = (Join-Path $env:ProgramData 'EdgeNode'),
    [string]$BackupDir = [Environment]::GetFolderPath('Desktop'),
    [switch]$Purge,
    [switch]$NoBackup
)
$ErrorActionPreference = 'Stop'
$Id = 'EdgeNode'
$winsw = Join-Path $InstallDir "$Id.exe"
$Py = Join-Path $InstallDir 'python\python.exe'

if ($Purge) {
    $answer = Read-Host "Delete ALL data in $HomeDir (dossiers, keys, backups)? Type DELETE"
    if ($answer -ne 'DELETE') { throw 'Not confirmed; nothing deleted.' }
}

if (Get-Service -Name $Id -ErrorAction SilentlyContinue) {
    & $winsw stop
    & $winsw uninstall
}

if ($Purge -and -not $NoBackup -and (Test-Path $Py) -and (Test-Path $HomeDir)) {
    $env:EDGE_NODE_HOME = $HomeDir
    & $Py -m edge_node backup --help *> $null
    if ($LASTEXITCODE -eq 0) {
        $out = Join-Path $BackupDir ("edge-node-before-purge-{0}.zip" -f (Get-Date -Format 'yyyyMMddTHHmmss'))
        Write-Host "Last backup before deleting: $out"
        & $Py -m edge_node backup --out $out
        if ($LASTEXITCODE -ne 0) { throw 'The last backup failed; nothing deleted (-NoBackup skips it).' }
    }
}

Get-NetFirewallRule -DisplayName 'Commune edge node (LAN)' -ErrorAction SilentlyContinue |
    Remove-NetFirewallRule
$shortcut = Join-Path $env:ProgramData 'Microsoft\Windows\Start Menu\Programs\Commune edge node.url'
if (Test-Path $shortcut) { Remove-Item -Force $shortcut }
# this script may live in $InstallDir: Windows lets a running script's folder be removed
if (Test-Path $InstallDir) { Remove-Item -Recurse -Force $InstallDir }
if (Test-Path "$InstallDir.previous") { Remove-Item -Recurse -Force "$InstallDir.previous" }
Write-Host "Removed the $Id service and the program files in $InstallDir."

if ($Purge) {
    if (Test-Path $HomeDir) { Remove-Item -Recurse -Force $HomeDir }
    Write-Host "Deleted the data in $HomeDir."
} else {
    Write-Host "The data in $HomeDir is kept (install.ps1 uses it again; -Purge deletes it)."
}
