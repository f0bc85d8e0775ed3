; Inno Setup script: wraps the PyInstaller folder dist\inkwell into one installer .exe.
; Build (on Windows, after `pyinstaller packaging\inkwell.spec`):
;   iscc /DVersion=0.1.0 packaging\windows\inkwell.iss
; Per-user install by default (no administrator rights); the installer offers all users.
; Written for and untested on Windows: no Windows machine was available where it was
; written (see packaging/README.md).

#ifndef Version
  #define Version "0.1.0"
#endif

[Setup]
AppId={{6C1B8F0E-3E0B-4C7B-9E63-8A1C1B5C9A77}
AppName=Inkwell
AppVersion={#Version}
AppPublisher=Inkwell developers
DefaultDirName={autopf}\Inkwell
DefaultGroupName=Inkwell
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=inkwell-{#Version}-windows-x64-setup
SetupIconFile=inkwell.ico
UninstallDisplayIcon={app}\inkwell-desktop.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ChangesEnvironment=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the inkwell command to PATH"; Flags: unchecked

[Files]
Source: "..\..\dist\inkwell\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Inkwell"; Filename: "{app}\inkwell-desktop.exe"
Name: "{autodesktop}\Inkwell"; Filename: "{app}\inkwell-desktop.exe"; Tasks: desktopicon

[Registry]
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; Tasks: addtopath; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\inkwell-desktop.exe"; Description: "{cm:LaunchProgram,Inkwell}"; Flags: nowait postinstall skipifsilent

[Code]
function NeedsAddPath(Dir: string): Boolean;
var
  Path: string;
begin
  if not RegQueryStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Path) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Path) + ';') = 0;
end;
