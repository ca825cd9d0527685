; Inno Setup script: a per-user (or, on request, per-machine) installer for the one-folder bundle.
;
; Build the bundle first (packaging\windows\README.md), then, from the repository root:
;   iscc /DAppVersion=0.1.0 packaging\windows\lanterna.iss
; Output: dist\Lanterna-<version>-setup.exe. Bundle from elsewhere: /DBundleDir=C:\path\to\lanterna
;
; The index and the model stay in %LOCALAPPDATA%\Lanterna: uninstalling leaves them (they can be
; gigabytes and took hours to build); the uninstaller says where they are.

#define AppName "Lanterna"
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef BundleDir
  #define BundleDir "..\..\dist\lanterna"
#endif
#ifndef IconFile
  ; written by packaging\lanterna.spec on Windows
  #define IconFile "..\..\build\pyinstaller-lanterna\lanterna.ico"
#endif

[Setup]
; AppId identifies the app to Windows for upgrades and uninstall: never change it.
AppId={{7B2EFDAB-01E0-44CD-ABDC-BB4C0667F53E}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Lanterna
AppComments=Find your photos and documents by meaning, privately
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per-user install without an administrator prompt; the dialog offers all users.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir=..\..\dist
OutputBaseFilename={#AppName}-{#AppVersion}-setup
SetupIconFile={#IconFile}
UninstallDisplayIcon={app}\lanterna.exe
UninstallDisplayName={#AppName}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
; Signing (see README.md): iscc /Ssigntool="signtool sign /fd sha256 /tr http://timestamp.digicert.com /td sha256 /a $f" ...
; then uncomment:
; SignTool=signtool
; SignedUninstaller=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; An upgrade replaces the whole bundle: stale libraries of an older version must not linger.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\lanterna.exe"; Comment: "Find your photos and documents by meaning"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\lanterna.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\lanterna.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[Messages]
UninstalledAll=%1 was removed. Your index and model are kept in %LOCALAPPDATA%\Lanterna; delete that folder to remove them too.
